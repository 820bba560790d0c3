"""A real server process on loopback, driven through langgraph-sdk as users drive it.

On PostgreSQL (``DATABASE_URL`` set) the server gets a fresh database of its own; otherwise a
SQLite file in a temporary folder: the embedded default.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.conftest import PROJECT
from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


@pytest.fixture(scope="session")
def server_database(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Environment for the server process: its own data folder and database."""
    env = {"AGENTSERVER_DATA_DIR": str(tmp_path_factory.mktemp("server-data"))}
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        env["DATABASE_URL"] = ""
        yield env
        return
    name = f"agentserver_e2e_{os.getpid()}"
    with psycopg.connect(_admin_url(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    yield env
    with psycopg.connect(_admin_url(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url(server_database, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server-log") / "server.log"
    env = {**os.environ, **server_database}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentserver.cli",
                "dev",
                "--config",
                str(PROJECT),
                "--port",
                str(port),
                "--server-log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: (
                    (process.poll() is None and httpx.get(f"{url}/ok").status_code == 200)
                    or process.poll() is not None
                ),
                timeout=60,
                what="the server to answer /ok",
            )
            if process.poll() is not None:
                raise AssertionError(f"server exited at start:\n{log_path.read_text()}")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


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
