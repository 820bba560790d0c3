"""The ``agentserver`` command: run a project's graphs behind the Agent Server API.

agentserver dev      one process on the embedded default (SQLite), migrations applied
agentserver serve    the web process of the production shape (Procfile ``web``)
agentserver worker   a Celery worker (Procfile ``worker``)
agentserver beat     the Celery beat scheduler (Procfile ``beat``)
agentserver migrate  apply database migrations (Procfile ``release``)
agentserver manage   a Django management command (createsuperuser, create_api_key, ...)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        config = Path(args.config).resolve()
        if not config.exists():
            parser.error(f"--config {args.config}: no such file")
        os.environ["AGENTSERVER_CONFIG"] = str(config)
    elif args.command in {"dev", "serve", "worker"}:
        default = Path.cwd() / "langgraph.json"
        if not default.exists():
            parser.error("no langgraph.json in this folder; pass --config PATH")
        os.environ["AGENTSERVER_CONFIG"] = str(default)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentserver.settings")
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentserver", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    for name, help_text, handler, port in (
        ("dev", "run everything in one process on the embedded default", run_dev, 2024),
        ("serve", "run the web process (production shape)", run_serve, 8000),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--config", help="path to langgraph.json (default: ./langgraph.json)")
        command.add_argument("--host", default="127.0.0.1" if name == "dev" else "0.0.0.0")
        command.add_argument("--port", type=int, default=int(os.environ.get("PORT", port)))
        command.add_argument(
            "--server-log-level", default="info", choices=["debug", "info", "warning", "error"]
        )
        command.set_defaults(handler=handler)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--config", help="path to langgraph.json")
    migrate.set_defaults(handler=run_migrate)

    manage = commands.add_parser(
        "manage", help="run a Django management command (e.g. create_api_key, createsuperuser)"
    )
    manage.add_argument("--config", help="path to langgraph.json")
    manage.add_argument("django_args", nargs=argparse.REMAINDER, help="the command and its args")
    manage.set_defaults(handler=run_manage)

    for name, help_text, handler in (
        ("worker", "run a Celery worker", run_worker),
        ("beat", "run the Celery beat scheduler", run_beat),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--config", help="path to langgraph.json (default: ./langgraph.json)")
        command.add_argument("celery_args", nargs=argparse.REMAINDER, help="passed to celery")
        command.set_defaults(handler=handler)
    return parser


def _setup(*, load_graphs: bool) -> None:
    """Configure Django and import the project's graphs; exit with one line if one is broken."""
    import django

    django.setup()
    if load_graphs:
        from apps.graphs.config import ProjectError
        from apps.graphs.registry import registry
        from apps.tenancy.customauth import AuthConfigError, custom_auth
        from apps.webhooks.project import checked as webhook_policy

        try:
            registry().load_all()
            registry().store  # noqa: B018 - a bad store section fails the start, not a request
            custom_auth()  # a broken auth.py fails the start too
            webhook_policy()  # and so does a broken webhooks section
        except (ProjectError, AuthConfigError, ValueError) as exc:
            sys.stderr.write(f"agentserver: {exc}\n")
            raise SystemExit(1) from None


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _sync_assistants() -> None:
    from apps.graphs.services import assistants_sync_defaults

    assistants_sync_defaults()


def _uvicorn(args: argparse.Namespace) -> int:
    import uvicorn
    from django.conf import settings

    from agentserver.http import FanOutHttpToolsProtocol
    from agentserver.websocket import FanOutWebSocketProtocol

    uvicorn.run(
        # An import string: with WEB_CONCURRENCY > 1 every uvicorn worker process loads it.
        "agentserver.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.server_log_level,
        lifespan="on",  # agentserver.asgi.lifespan: each process readies itself once
        http=FanOutHttpToolsProtocol,
        ws=FanOutWebSocketProtocol,
        # Token events are small and many: compressing each costs more CPU than it saves
        # bytes (bench/streams.py); AGENTSERVER_WS_COMPRESSION=true turns it back on.
        ws_per_message_deflate=settings.AGENTSERVER_WS_COMPRESSION,
    )
    return 0


def run_dev(args: argparse.Namespace) -> int:
    # A laptop's server: no credentials unless asked for (AGENTSERVER_AUTH=apikey).
    os.environ.setdefault("AGENTSERVER_AUTH", "none")
    _setup(load_graphs=True)
    _migrate()
    _sync_assistants()
    from django.conf import settings

    from agentserver.embedded import start_beat, start_worker
    from apps.graphs.registry import registry

    if not settings.REDIS_URL:
        # Embedded: no broker to share, so this process also works the queue and keeps time.
        # With REDIS_URL set, `agentserver worker` and `agentserver beat` do that instead.
        start_worker(concurrency=settings.AGENTSERVER_WORKER_THREADS)
        start_beat(registry().project)
    print(f"agentserver: serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    return _uvicorn(args)


def run_serve(args: argparse.Namespace) -> int:
    _setup(load_graphs=True)
    _sync_assistants()
    from apps.tenancy.authentication import auth_scheme

    if auth_scheme() == "none":
        sys.stderr.write(
            "agentserver: WARNING: AGENTSERVER_AUTH=none: authentication is OFF. Every request "
            "acts as the owner of the default tenant. Never expose this server to a network "
            "you do not trust.\n"
        )
    return _uvicorn(args)


def run_migrate(args: argparse.Namespace) -> int:
    _setup(load_graphs=False)
    _migrate()
    return 0


def run_manage(args: argparse.Namespace) -> int:
    _setup(load_graphs=False)
    from django.core.management import execute_from_command_line

    extra = list(args.django_args)
    execute_from_command_line(
        ["agentserver manage", *(extra[1:] if extra[:1] == ["--"] else extra)]
    )
    return 0


def _celery_args(args: argparse.Namespace) -> list[str]:
    extra = list(args.celery_args)
    return extra[1:] if extra[:1] == ["--"] else extra


def run_worker(args: argparse.Namespace) -> int:
    _setup(load_graphs=True)
    from agentserver.celery import app

    app.worker_main(["worker", "--loglevel=INFO", *_celery_args(args)])
    return 0


def run_beat(args: argparse.Namespace) -> int:
    _setup(load_graphs=False)
    from agentserver.celery import app, beat_schedule
    from apps.graphs.registry import registry

    app.conf.beat_schedule = beat_schedule(registry().project)

    app.start(["beat", "--loglevel=INFO", *_celery_args(args)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
