"""A webhook receiver on loopback, the project variants that allow it, and a deployment whose
project does."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from langgraph_sdk import get_client

from apps.graphs.registry import registry, use_project
from apps.graphs.services import assistants_sync_defaults
from apps.runs.services import run_claim, run_create
from apps.tenancy.principal import local_principal
from apps.threads.services import thread_create
from tests.e2e.conftest import Deployment

WEBHOOK_PROJECT = Path(__file__).parent / "project" / "langgraph.json"
SECRET = "test-webhook-secret"
LOOPBACK_ALLOWED = {"url": {"allowed_networks": ["127.0.0.0/8"]}}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers each path from a script
    (status codes in turn, then 200), or holds the answer back until the test ends."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, name: str | None = None) -> str:
        """The URL of a path of its own (one per test, so tests never see each other's)."""
        return f"http://127.0.0.1:{self.server.server_port}/{name or uuid.uuid4().hex}"

    def answer(self, url: str, *codes: int) -> str:
        self.scripts[_path(url)] = list(codes)
        return url

    def hold(self, url: str) -> str:
        self.held.add(_path(url))
        return url

    def requests_to(self, url: str) -> list[Received]:
        return [request for request in self.received if request.path == _path(url)]


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    receiving: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiving.received.append(Received(self.path, dict(self.headers.items()), body))
            if self.path in receiving.held:
                receiving.release.wait(timeout=60)
            script = receiving.scripts.get(self.path) or [200]
            code = script.pop(0) if len(script) > 1 else script[0]
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiving = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield receiving
    receiving.release.set()
    server.shutdown()
    server.server_close()


def signature_of(request: Received, secret: str = SECRET) -> bool:
    """Whether the request carries a valid signature, checked as the README tells receivers."""
    timestamp = request.headers["X-Agentserver-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(request.headers["X-Agentserver-Signature"], f"sha256={expected}")


# --- in-process -------------------------------------------------------------------------------


@pytest.fixture
def use_webhooks():
    """Serve the test project with another ``webhooks`` (and ``http``) section; the project
    comes back after the test."""
    original = registry().project

    def use(webhooks: dict | None = LOOPBACK_ALLOWED, http: dict | None = None) -> None:
        use_project(dataclasses.replace(original, webhooks=webhooks, http=http))

    yield use
    use_project(original)


@pytest.fixture
def assistants(db) -> None:
    """The default assistant of each graph (run creation resolves graph names to them)."""
    assistants_sync_defaults()


@pytest.fixture
def loopback_allowed(use_webhooks, settings) -> None:
    """The project allows webhooks to 127.0.0.0/8; deliveries are signed with SECRET."""
    use_webhooks()
    settings.AGENTSERVER_WEBHOOK_SECRET = SECRET


def a_run(webhook: str | None, *, stateless: bool = False, thread_id=None, **payload):
    """A run of ``agent`` created as the API creates it (on a new thread unless given one)."""
    if thread_id is None and not stateless:
        thread_id = thread_create(principal=local_principal()).thread_id
    return run_create(
        principal=local_principal(),
        thread_id=thread_id,
        payload={"assistant_id": "agent", "webhook": webhook, **payload},
        stateless=stateless,
    )


def claimed(run):
    """The run taken by a worker, as the executor holds it."""
    taken = run_claim(run_id=run.run_id, worker="test-worker")
    assert taken is not None
    return taken


# --- a deployment -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    """Real server processes serving WEBHOOK_PROJECT (loopback allowed), with retries quick
    and few."""
    running = Deployment(
        tmp_path_factory.mktemp("webhooks"),
        project=WEBHOOK_PROJECT,
        env={
            "AGENTSERVER_WEBHOOK_SECRET": SECRET,
            "AGENTSERVER_WEBHOOK_MAX_ATTEMPTS": "3",
            "AGENTSERVER_WEBHOOK_BACKOFF_SECONDS": "0",
            "LG_WEBHOOK_TOKEN": "receiver-token",
        },
    ).start(workers=1)
    yield running
    running.stop()


@pytest.fixture
def client(deployment):
    return get_client(url=deployment.url, api_key=None)


DELIVERY_COLUMNS = ("status", "attempts", "last_error", "response_code", "url")


def deliveries_of(deployment: Deployment, run_id: str) -> list[dict[str, Any]]:
    """The deployment's delivery log for a run, read from its database."""
    sql = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhooks_webhookdelivery WHERE run_id = "
    if deployment.database:
        with psycopg.connect(deployment.env["DATABASE_URL"]) as conn:
            rows = conn.execute(sql + "%s", [run_id]).fetchall()
    else:
        path = Path(deployment.env["AGENTSERVER_DATA_DIR"]) / "agentserver.sqlite3"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(sql + "?", [uuid.UUID(run_id).hex]).fetchall()
    return [dict(zip(DELIVERY_COLUMNS, row, strict=True)) for row in rows]
