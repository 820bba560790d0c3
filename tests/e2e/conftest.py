"""Real server processes on loopback, driven through langgraph-sdk as users drive them.

With ``DATABASE_URL=postgres://...`` and ``REDIS_URL`` set, a deployment is the production
shape: ``agentserver migrate``, then ``agentserver serve`` and ``agentserver worker``
processes, on a fresh database and a Celery queue of its own. Otherwise it is the embedded
default: one ``agentserver dev`` process on a SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis
from langgraph_sdk import get_client, get_sync_client

from tests.conftest import PROJECT
from tests.waiting import wait_for

PRODUCTION_SHAPE = os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(
    os.environ.get("REDIS_URL")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql", path="/postgres"))


class Deployment:
    """The processes of one server deployment, and the environment they share."""

    def __init__(self, workdir: Path, *, project: Path = PROJECT, env: dict | None = None):
        self.workdir = workdir
        self.project = project
        self.tag = uuid.uuid4().hex[:10]
        self.env = {
            **os.environ,
            "AGENTSERVER_DATA_DIR": str(workdir / "data"),
            "AGENTSERVER_QUEUE": f"test-{self.tag}",
            # Authentication is off on purpose; the ``secured`` deployment turns it on.
            "AGENTSERVER_AUTH": "none",
            **(env or {}),
        }
        self.database: str | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.url = ""

    # -- lifecycle --

    def start(self, *, workers: int = 1, beat: bool = False) -> Deployment:
        if PRODUCTION_SHAPE:
            self._create_database()
            self._run("migrate")
            self.start_web("serve")
            for index in range(workers):
                self.start_worker(f"worker{index}")
            if beat:
                self.start_process("beat", "beat", "--", "-s", str(self.workdir / "beat-schedule"))
        else:
            self.env["DATABASE_URL"] = ""
            self.env["REDIS_URL"] = ""
            self.start_web("dev")
        return self

    def stop(self) -> None:
        for name in list(self.processes):
            self.terminate(name)
        if self.database:
            with psycopg.connect(_admin_url(os.environ["DATABASE_URL"]), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if PRODUCTION_SHAPE:
            # The deployment's Celery queue (messages left for a worker that is gone) and
            # kombu's binding for it; Redis is shared with the next runs of the suite.
            queue = self.env["AGENTSERVER_QUEUE"]
            with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
                client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
                _forget_unacked(client, queue)

    def _create_database(self) -> None:
        base = os.environ["DATABASE_URL"]
        self.database = f"agentserver_e2e_{self.tag}"
        with psycopg.connect(_admin_url(base), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.env["DATABASE_URL"] = urlunsplit(urlsplit(base)._replace(path=f"/{self.database}"))

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "agentserver.cli", *args]

    def _run(self, *args: str) -> None:
        subprocess.run(
            self._command(*args, "--config", str(self.project)),
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def manage(self, *args: str) -> str:
        """Run ``agentserver manage ARGS`` against this deployment; its standard output."""
        result = subprocess.run(
            self._command("manage", "--config", str(self.project), *args),
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.stdout.strip()

    def api_key(self, *, tenant: str, user: str, role: str) -> str:
        """A new API key for ``user`` (made if missing) in ``role`` of ``tenant``."""
        return self.manage(
            "create_api_key", "--tenant", tenant, "--user", user, "--role", role
        ).splitlines()[-1]

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_process(self, name: str, command: str, *args: str) -> subprocess.Popen:
        with open(self.workdir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                self._command(command, "--config", str(self.project), *args),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_web(self, command: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        process = self.start_process(
            "web",
            command,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--server-log-level",
            "warning",
        )
        wait_for(
            lambda: process.poll() is not None or _answers(f"{self.url}/ok"),
            timeout=60,
            what="the web process to answer /ok",
        )
        if process.poll() is not None:
            raise AssertionError(f"the web process exited at start:\n{self.log('web')}")

    def start_worker(self, name: str) -> subprocess.Popen:
        process = self.start_process(
            name,
            "worker",
            "--",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--hostname",
            f"{name}-{self.tag}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        )
        wait_for(
            lambda: process.poll() is not None or "ready." in self.log(name),
            timeout=60,
            what=f"{name} to be ready",
        )
        if process.poll() is not None:
            raise AssertionError(f"{name} exited at start:\n{self.log(name)}")
        return process

    def kill(self, name: str) -> None:
        """kill -9 the process and all its children (a crash, not a shutdown)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def terminate(self, name: str, *, timeout: float = 60) -> None:
        """SIGTERM: a warm shutdown."""
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    running = Deployment(tmp_path_factory.mktemp("deployment")).start(workers=1)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def secured(tmp_path_factory) -> Iterator[Deployment]:
    """A deployment that wants API keys (``Deployment.api_key`` makes them)."""
    running = Deployment(
        tmp_path_factory.mktemp("secured"), env={"AGENTSERVER_AUTH": "apikey"}
    ).start(workers=1)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def server_url(deployment) -> str:
    return deployment.url


@pytest.fixture
def client(server_url):
    return get_client(url=server_url, api_key=None)


@pytest.fixture
def sync_client(server_url):
    return get_sync_client(url=server_url, api_key=None)


@pytest.fixture
def http(server_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as session:
        yield session


def _forget_unacked(client: redis.Redis, queue: str) -> None:
    """Drop kombu's record of the messages of ``queue`` a killed worker had taken and not
    acknowledged (``unacked``: tag -> [message, exchange, routing key]); left there, a later
    consumer of this Redis would restore them into the deleted queue."""
    for tag, entry in client.hgetall("unacked").items():
        if json.loads(entry)[2] == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
