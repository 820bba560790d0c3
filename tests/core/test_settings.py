"""Settings come from the environment; a bad value stops the process with one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentserver.settings import ConfigError, database_from_url

ROOT = Path(__file__).resolve().parents[2]


def test_no_database_url_means_a_sqlite_file_in_the_data_folder(tmp_path):
    entry = database_from_url("", data_dir=tmp_path)
    assert entry["ENGINE"] == "django.db.backends.sqlite3"
    assert entry["NAME"] == str(tmp_path / "agentserver.sqlite3")


def test_a_postgres_url_is_split_into_django_settings(tmp_path):
    entry = database_from_url(
        "postgres://ada:s%40cret@db.example:6543/agents?sslmode=require", data_dir=tmp_path
    )
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == ("agents", "ada", "s@cret")
    assert (entry["HOST"], entry["PORT"]) == ("db.example", "6543")
    assert entry["OPTIONS"]["sslmode"] == "require"
    assert (
        entry["OPTIONS"]["pool"]["max_size"] >= 2
    )  # one pool per process, not a connection per request


def test_postgres_uses_prepared_statements_unless_switched_off(tmp_path, monkeypatch):
    options = database_from_url("postgres://db.example/agents", data_dir=tmp_path)["OPTIONS"]
    assert (options["server_side_binding"], options["prepare_threshold"]) == (True, 5)

    monkeypatch.setenv("AGENTSERVER_DB_PREPARED_STATEMENTS", "false")  # e.g. behind PgBouncer
    options = database_from_url("postgres://db.example/agents", data_dir=tmp_path)["OPTIONS"]
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_a_sqlite_url_names_the_file(tmp_path):
    assert database_from_url("sqlite:////tmp/x.db", data_dir=tmp_path)["NAME"] == "/tmp/x.db"
    assert database_from_url("sqlite:///rel.db", data_dir=tmp_path)["NAME"] == "rel.db"


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "postgres://host:port/db", "postgres://host/", "sqlite://"]
)
def test_an_unusable_database_url_is_refused(tmp_path, url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_from_url(url, data_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL='mysql://x/y' is not supported"),
        ("REDIS_URL", "http://redis", "REDIS_URL='http://redis' is not a redis://"),
        ("DEBUG", "perhaps", "DEBUG='perhaps' is not a boolean"),
        ("AGENTSERVER_DB_THREADS", "0", "must be at least 1"),
        ("AGENTSERVER_AUTH", "off", "AGENTSERVER_AUTH='off' must be one of: apikey, none"),
    ],
)
def test_a_bad_environment_value_stops_the_start_with_one_line(tmp_path, name, value, message):
    env = {**os.environ, "AGENTSERVER_DATA_DIR": str(tmp_path), name: value}
    result = subprocess.run(
        [sys.executable, "-m", "agentserver.cli", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_a_broken_graph_stops_the_start_naming_the_graph(tmp_path):
    (tmp_path / "langgraph.json").write_text('{"graphs": {"bad": "./bad.py:graph"}}')
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    result = start_serve(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "agentserver: graph 'bad' failed to import from ./bad.py:graph: RuntimeError: boom"
    )


def test_a_broken_auth_file_stops_the_start(tmp_path):
    (tmp_path / "langgraph.json").write_text(
        '{"graphs": {"g": "./g.py:graph"}, "auth": {"path": "./auth.py:auth"}}'
    )
    (tmp_path / "g.py").write_text(
        "from langgraph.graph import StateGraph, START\n"
        "from typing_extensions import TypedDict\n"
        "class S(TypedDict):\n    x: int\n"
        "graph = StateGraph(S)\ngraph.add_node('n', lambda s: s)\ngraph.add_edge(START, 'n')\n"
    )
    (tmp_path / "auth.py").write_text("auth = 'not an Auth object'\n")
    result = start_serve(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "agentserver: auth.path './auth.py:auth' is not a langgraph_sdk.Auth instance"
    )


def start_serve(project: Path) -> subprocess.CompletedProcess:
    """``agentserver serve`` on the project in ``project``, as far as it gets."""
    env = {**os.environ, "AGENTSERVER_DATA_DIR": str(project / "data"), "DATABASE_URL": ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agentserver.cli",
            "serve",
            "--config",
            str(project / "langgraph.json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
