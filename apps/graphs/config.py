"""The project file: a ``langgraph.json``-compatible description of the user's graphs.

Only the sections the runtime acts on are read (``graphs``, ``dependencies``, ``env``, ``store``,
``checkpointer``, ``auth``, ``http``, ``webhooks``); build-only keys such as ``python_version``
or ``dockerfile_lines`` are accepted and ignored, as ``langgraph dev`` ignores them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ProjectError(Exception):
    """The project file or one of its graphs cannot be used; the message says which and why."""


@dataclass(frozen=True)
class GraphSpec:
    graph_id: str
    path: str
    description: str | None = None

    @property
    def module_ref(self) -> str:
        return self.path.rsplit(":", 1)[0]

    @property
    def attribute(self) -> str:
        return self.path.rsplit(":", 1)[1]


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    graphs: dict[str, GraphSpec]
    dependencies: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    store: dict[str, Any] | None = None
    checkpointer: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    webhooks: dict[str, Any] | None = None

    @property
    def checkpoint_ttl(self) -> dict[str, Any] | None:
        return (self.checkpointer or {}).get("ttl")


def load_project(path: Path | str) -> ProjectConfig:
    """Read and validate a project file; raise ProjectError with a one-line reason."""
    path = Path(path).resolve()
    if path.is_dir():
        path = path / "langgraph.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"project file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProjectError(f"{path} must hold a JSON object")
    root = path.parent
    return ProjectConfig(
        root=root,
        graphs=_graphs(raw.get("graphs")),
        dependencies=tuple(_string_list(raw.get("dependencies", []), "dependencies")),
        env=_env(raw.get("env"), root),
        store=_section(raw, "store"),
        checkpointer=_checkpointer(raw),
        auth=_section(raw, "auth"),
        http=_section(raw, "http"),
        webhooks=_section(raw, "webhooks"),
    )


def empty_project(root: Path | None = None) -> ProjectConfig:
    """A project with no graphs: the server still serves threads and the store."""
    return ProjectConfig(root=root or Path.cwd(), graphs={})


def _graphs(raw: Any) -> dict[str, GraphSpec]:
    if not isinstance(raw, dict) or not raw:
        raise ProjectError("'graphs' must be an object mapping graph ids to 'path:attribute'")
    graphs = {}
    for graph_id, entry in raw.items():
        description = None
        if isinstance(entry, dict):
            description = entry.get("description")
            entry = entry.get("path")
        if not isinstance(entry, str) or ":" not in entry or entry.endswith(":"):
            raise ProjectError(
                f"graph '{graph_id}': expected './file.py:attribute' or 'package.module:attribute',"
                f" got {entry!r}"
            )
        graphs[graph_id] = GraphSpec(graph_id=graph_id, path=entry, description=description)
    return graphs


def _string_list(raw: Any, name: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ProjectError(f"'{name}' must be a list of strings")
    return raw


def _env(raw: Any, root: Path) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items()}
    if isinstance(raw, str):
        env_file = (root / raw).resolve()
        if not env_file.exists():
            raise ProjectError(f"'env' names {raw!r}, which does not exist")
        return _read_env_file(env_file)
    raise ProjectError("'env' must be an object or the path of a .env file")


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _section(raw: dict, name: str) -> dict[str, Any] | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, dict):
        raise ProjectError(f"'{name}' must be an object")
    return value


def _checkpointer(raw: dict) -> dict[str, Any] | None:
    section = _section(raw, "checkpointer")
    if not section:
        return section
    if section.get("path"):
        raise ProjectError(
            "'checkpointer.path' is not supported: agentserver keeps checkpoints in its own "
            "database (remove the key)"
        )
    ttl = section.get("ttl")
    if ttl is not None:
        if not isinstance(ttl, dict):
            raise ProjectError("'checkpointer.ttl' must be an object")
        strategy = ttl.get("strategy", "delete")
        if strategy not in {"delete", "keep_latest"}:
            raise ProjectError("'checkpointer.ttl.strategy' must be 'delete' or 'keep_latest'")
        default_ttl = ttl.get("default_ttl")
        if default_ttl is not None and (
            not isinstance(default_ttl, int | float) or default_ttl <= 0
        ):
            raise ProjectError(
                "'checkpointer.ttl.default_ttl' must be a positive number of minutes"
            )
    return section
