"""The ``agentserver`` command: run a project's graphs behind the Agent Server API.

agentserver dev      one process on the embedded default (SQLite), migrations applied
agentserver serve    the web process of the production shape (Procfile ``web``)
agentserver worker   a Celery worker (Procfile ``worker``)
agentserver beat     the Celery beat scheduler (Procfile ``beat``)
agentserver migrate  apply database migrations (Procfile ``release``)
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

        try:
            registry().load_all()
            registry().store  # noqa: B018 - a bad store section fails the start, not a request
        except (ProjectError, ValueError) as exc:
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

    uvicorn.run(
        "agentserver.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.server_log_level,
        lifespan="off",
    )
    return 0


def _start_embedded_beat() -> None:
    """Run the beat schedule's periodic tasks on a daemon thread (embedded mode has no beat)."""
    import logging
    import threading
    import time

    from agentserver.celery import app, beat_schedule
    from apps.graphs.registry import registry

    log = logging.getLogger("agentserver.beat")
    app.loader.import_default_modules()  # autodiscovery of tasks is lazy until a worker starts
    schedule = [
        (entry["task"], float(entry["schedule"]))
        for entry in beat_schedule(registry().project).values()
    ]
    due = {task: time.monotonic() + interval for task, interval in schedule}
    wake = threading.Event()  # never set: its timed wait is the scheduler's clock

    def loop() -> None:
        while not wake.wait(min(due.values()) - time.monotonic() if due else 60):
            now = time.monotonic()
            for task, interval in schedule:
                if due[task] <= now:
                    due[task] = now + interval
                    try:
                        app.tasks[task].apply()
                    except Exception:
                        log.exception("periodic task %s failed", task)

    threading.Thread(target=loop, name="agentserver-beat", daemon=True).start()


def run_dev(args: argparse.Namespace) -> int:
    _setup(load_graphs=True)
    _migrate()
    _sync_assistants()
    _start_embedded_beat()
    print(f"agentserver: serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    return _uvicorn(args)


def run_serve(args: argparse.Namespace) -> int:
    _setup(load_graphs=True)
    _sync_assistants()
    return _uvicorn(args)


def run_migrate(args: argparse.Namespace) -> int:
    _setup(load_graphs=False)
    _migrate()
    return 0


def run_worker(args: argparse.Namespace) -> int:
    _setup(load_graphs=True)
    from agentserver.celery import app

    app.worker_main(["worker", "--loglevel=INFO", *args.celery_args])
    return 0


def run_beat(args: argparse.Namespace) -> int:
    _setup(load_graphs=False)
    from agentserver.celery import app, beat_schedule
    from apps.graphs.registry import registry

    app.conf.beat_schedule = beat_schedule(registry().project)

    app.start(["beat", "--loglevel=INFO", *args.celery_args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
