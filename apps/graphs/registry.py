"""The graph registry: imports the project's graphs once per process and hands out runnable
copies wired to the Django checkpointer and store.

A ``graphs`` entry may name a compiled graph, an uncompiled ``StateGraph``, or a factory: a
(async) function or (async) context manager taking nothing, or the run's ``RunnableConfig``.
Factories are called on every use, as the reference server does.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from apps.graphs.config import GraphSpec, ProjectConfig, ProjectError, empty_project, load_project

if TYPE_CHECKING:
    from apps.memory.store import DjangoStore

# The reference server's namespace for default assistant ids (uuid5 of the graph id).
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def default_assistant_id(graph_id: str) -> uuid.UUID:
    return uuid.uuid5(ASSISTANT_NAMESPACE, graph_id)


@dataclass
class LoadedGraph:
    spec: GraphSpec
    target: Any  # a compiled graph, or a factory to call per use

    @property
    def is_factory(self) -> bool:
        return not isinstance(self.target, Pregel)


class Registry:
    """The loaded project: its config and one imported object per graph id."""

    def __init__(self, project: ProjectConfig) -> None:
        self.project = project
        self._graphs: dict[str, LoadedGraph] = {}
        self._lock = threading.Lock()

    @functools.cached_property
    def store(self) -> DjangoStore:
        """The long-term memory store configured by the project's ``store`` section, bound to
        no tenant: bind it per request or run with ``store.for_tenant(tenant_id)``."""
        from apps.memory.store import DjangoStore  # the store module imports this one

        return DjangoStore.from_project_config(self.project.store, base_dir=self.project.root)

    @property
    def graph_ids(self) -> list[str]:
        return list(self.project.graphs)

    def has_graph(self, graph_id: str) -> bool:
        return graph_id in self.project.graphs

    def load_all(self) -> None:
        """Import every graph now, so a broken one fails the start with its name."""
        for graph_id in self.project.graphs:
            self.loaded(graph_id)

    def loaded(self, graph_id: str) -> LoadedGraph:
        with self._lock:
            if graph_id not in self._graphs:
                spec = self.project.graphs[graph_id]
                self._graphs[graph_id] = LoadedGraph(spec, _import_graph(spec, self.project.root))
            return self._graphs[graph_id]

    def default_name(self, graph_id: str) -> str:
        """The compiled graph's name unless it is LangGraph's default, then the graph id."""
        target = self.loaded(graph_id).target
        name = getattr(target, "name", None)
        return name if isinstance(target, Pregel) and name and name != "LangGraph" else graph_id

    @contextlib.asynccontextmanager
    async def graph(
        self,
        graph_id: str,
        config: RunnableConfig | None = None,
        *,
        checkpointer: Any = None,
        store: Any = None,
    ) -> AsyncIterator[Pregel]:
        """A graph ready to run or inspect, with the given checkpointer and store attached."""
        loaded = self.loaded(graph_id)
        async with _materialize(loaded, config or {}) as graph:
            update = {}
            if checkpointer is not None:
                update["checkpointer"] = checkpointer
            if store is not None:
                update["store"] = store
            yield graph.copy(update=update) if update else graph


_registry: Registry | None = None
_registry_lock = threading.Lock()


def registry() -> Registry:
    """The process's registry, loaded from ``AGENTSERVER_CONFIG`` on first use."""
    global _registry
    with _registry_lock:
        if _registry is None:
            path = settings.AGENTSERVER_CONFIG
            _registry = _prepare(load_project(path) if path else empty_project())
        return _registry


def use_project(project: ProjectConfig) -> Registry:
    """Replace the process's project (the CLI at start, tests)."""
    global _registry
    with _registry_lock:
        _registry = _prepare(project)
        return _registry


def _prepare(project: ProjectConfig) -> Registry:
    for key, value in project.env.items():
        os.environ.setdefault(key, value)
    for dependency in (project.root, *_local_dependencies(project)):
        if str(dependency) not in sys.path:
            sys.path.insert(0, str(dependency))
    return Registry(project)


def _local_dependencies(project: ProjectConfig) -> list[Path]:
    # Local paths ("." or "./graph") go on sys.path; package requirements are the operator's to
    # install, as with any Python service.
    return [
        (project.root / dep).resolve()
        for dep in project.dependencies
        if dep.startswith(".") or dep.startswith("/")
    ]


def _import_graph(spec: GraphSpec, root: Path) -> Any:
    module_ref, attribute = spec.module_ref, spec.attribute
    try:
        if module_ref.endswith(".py") or "/" in module_ref:
            module = _import_file(spec, (root / module_ref).resolve())
        else:
            module = importlib.import_module(module_ref)
    except ProjectError:
        raise
    except BaseException as exc:
        raise ProjectError(
            f"graph '{spec.graph_id}' failed to import from {spec.path}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise ProjectError(
            f"graph '{spec.graph_id}': {module_ref} has no attribute '{attribute}'"
        ) from None
    if isinstance(target, StateGraph):
        return target.compile()
    if isinstance(target, Pregel) or callable(target):
        return target
    raise ProjectError(
        f"graph '{spec.graph_id}': {spec.path} is a {type(target).__name__}, not a graph or a "
        "factory returning one"
    )


def _import_file(spec: GraphSpec, path: Path) -> Any:
    if not path.exists():
        raise ProjectError(f"graph '{spec.graph_id}': file {path} does not exist")
    module_name = f"agentserver_graphs.{spec.graph_id}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def _materialize(loaded: LoadedGraph, config: RunnableConfig) -> AsyncIterator[Pregel]:
    if not loaded.is_factory:
        yield loaded.target
        return
    factory: Callable = loaded.target
    result = factory(config) if _takes_config(factory) else factory()
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, contextlib.AbstractAsyncContextManager):
        async with result as graph:
            yield _checked(loaded.spec, graph)
    elif isinstance(result, contextlib.AbstractContextManager):
        with result as graph:
            yield _checked(loaded.spec, graph)
    else:
        yield _checked(loaded.spec, result)


def _takes_config(factory: Callable) -> bool:
    try:
        return len(inspect.signature(factory).parameters) >= 1
    except (TypeError, ValueError):
        return False


def _checked(spec: GraphSpec, graph: Any) -> Pregel:
    if isinstance(graph, StateGraph):
        return graph.compile()
    if not isinstance(graph, Pregel):
        raise ProjectError(
            f"graph '{spec.graph_id}': the factory returned a {type(graph).__name__}, not a graph"
        )
    return graph
