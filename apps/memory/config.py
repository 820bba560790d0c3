"""The ``store`` section of a project file (``langgraph.json``), checked and resolved.

```json
"store": {
  "index": {"dims": 1536, "embed": "openai:text-embedding-3-small", "fields": ["$"]},
  "ttl": {"default_ttl": 60, "refresh_on_read": true, "sweep_interval_minutes": 5}
}
```

``embed`` is a LangChain ``Embeddings``, a sync or async function ``list[str] ->
list[list[float]]``, or a string: ``"path/to/file.py:attr"`` (relative to the project folder),
``"package.module:attr"``, or a provider string such as ``"openai:text-embedding-3-small"``
that LangChain's ``init_embeddings`` resolves (through LangGraph's ``ensure_embeddings``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import TTLConfig, ensure_embeddings, tokenize_path

STORE_KEYS = ("index", "ttl")
INDEX_KEYS = ("dims", "embed", "fields")
TTL_KEYS = ("default_ttl", "refresh_on_read", "sweep_interval_minutes", "omit_expired")


@dataclass(frozen=True)
class IndexSettings:
    dims: int
    fields: tuple[str, ...]
    embeddings: Embeddings

    @property
    def config(self) -> dict[str, Any]:
        """The ``IndexConfig`` dict LangGraph code reads from ``store.index_config``."""
        return {"dims": self.dims, "fields": list(self.fields), "embed": self.embeddings}


def store_sections(store_config: Any) -> tuple[Mapping | None, Mapping | None]:
    """The ``index`` and ``ttl`` sections of a ``store`` config (None when absent)."""
    if store_config is None:
        return None, None
    if not isinstance(store_config, Mapping):
        raise ValueError(f"store must be an object, not {type(store_config).__name__}")
    _known_keys(store_config, STORE_KEYS, "store")
    return store_config.get("index"), store_config.get("ttl")


def index_settings(index: Any, *, base_dir: Path | None = None) -> IndexSettings | None:
    """Validate an index config and resolve its embedder; None when there is no index."""
    if index is None:
        return None
    if not isinstance(index, Mapping):
        raise ValueError(f"store.index must be an object, not {type(index).__name__}")
    _known_keys(index, INDEX_KEYS, "store.index")
    dims = index.get("dims")
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ValueError(f"store.index.dims must be a positive integer, got {dims!r}")
    if index.get("embed") is None:
        raise ValueError("store.index.embed is required (an embedding function or provider)")
    fields = index.get("fields")
    if fields is None:
        fields = ["$"]
    if isinstance(fields, str) or not isinstance(fields, list | tuple):
        raise ValueError(f"store.index.fields must be a list of JSON paths, got {fields!r}")
    for path in fields:
        if not isinstance(path, str) or not path or (path != "$" and not tokenize_path(path)):
            raise ValueError(f"store.index.fields holds an invalid JSON path: {path!r}")
    return IndexSettings(
        dims=dims,
        fields=tuple(fields),
        embeddings=resolve_embeddings(index["embed"], base_dir=base_dir),
    )


def ttl_settings(ttl: Any) -> TTLConfig | None:
    """Validate a TTL config; ``refresh_on_read`` defaults to True."""
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise ValueError(f"store.ttl must be an object, not {type(ttl).__name__}")
    _known_keys(ttl, TTL_KEYS, "store.ttl")
    default_ttl = ttl.get("default_ttl")
    if default_ttl is not None and not _positive_number(default_ttl):
        raise ValueError(
            f"store.ttl.default_ttl must be a positive number of minutes, got {default_ttl!r}"
        )
    interval = ttl.get("sweep_interval_minutes")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
    ):
        raise ValueError(
            f"store.ttl.sweep_interval_minutes must be a positive integer, got {interval!r}"
        )
    for name in ("refresh_on_read", "omit_expired"):
        if name in ttl and not isinstance(ttl[name], bool):
            raise ValueError(f"store.ttl.{name} must be true or false, got {ttl[name]!r}")
    return TTLConfig(
        default_ttl=float(default_ttl) if default_ttl is not None else None,
        refresh_on_read=ttl.get("refresh_on_read", True),
        omit_expired=ttl.get("omit_expired", False),
        sweep_interval_minutes=interval,
    )


def resolve_embeddings(embed: Any, *, base_dir: Path | None = None) -> Embeddings:
    """An ``Embeddings`` for any accepted ``embed`` value; raises ValueError if unusable."""
    if isinstance(embed, str):
        target = _import_reference(embed, base_dir or Path.cwd())
        if target is None:
            return ensure_embeddings(embed)  # a provider string, or a ValueError saying why not
        if isinstance(target, type) and issubclass(target, Embeddings):
            target = target()
        if not (isinstance(target, Embeddings) or callable(target)):
            raise ValueError(
                f"store.index.embed {embed!r} is a {type(target).__name__}, "
                "not an Embeddings or an embedding function"
            )
        return ensure_embeddings(target)
    if isinstance(embed, Embeddings) or callable(embed):
        return ensure_embeddings(embed)
    raise ValueError(
        "store.index.embed must be an Embeddings, an embedding function, or a string, "
        f"not {type(embed).__name__}"
    )


def _import_reference(reference: str, base_dir: Path) -> Any | None:
    """The object a ``file.py:attr`` or ``module:attr`` string names, or None when the string
    is not such a reference (then it is a provider string)."""
    module_ref, _, attribute = reference.rpartition(":")
    if not module_ref or not attribute:
        return None
    names = attribute.split(".")
    if module_ref.endswith(".py") or "/" in module_ref or "\\" in module_ref:
        module = _import_file((base_dir / module_ref).resolve(), reference)
    else:
        if not all(part.isidentifier() for part in [*module_ref.split("."), *names]):
            return None
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as exc:
            if exc.name and (module_ref + ".").startswith(exc.name + "."):
                return None  # "openai:..." without an importable openai is a provider string
            raise ValueError(f"store.index.embed {reference!r} failed to import: {exc}") from exc
    target = module
    for name in names:
        if not hasattr(target, name):
            raise ValueError(f"store.index.embed {reference!r}: no attribute {name!r}")
        target = getattr(target, name)
    return target


def _import_file(path: Path, reference: str) -> Any:
    if not path.is_file():
        raise ValueError(f"store.index.embed {reference!r}: file {path} does not exist")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"agentserver_store_embed_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise ValueError(
            f"store.index.embed {reference!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _known_keys(section: Mapping, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(key) for key in section if key not in allowed)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown} (allowed: {list(allowed)})")


def _positive_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )
