"""Keys the server owns: stripped from client metadata, config and context, as the reference
server strips them (silently, with a log line)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

RESERVED_METADATA_KEYS = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)
RESERVED_CONFIGURABLE_KEYS = frozenset(
    {
        "langgraph_auth_user",
        "langgraph_auth_user_id",
        "langgraph_auth_permissions",
        "langgraph_request_id",
        "__after_seconds__",
        "__request_start_time_ms__",
        "__langsmith_project__",
        "__langsmith_example_id__",
        "__context_provided__",
    }
)
RESERVED_CONFIGURABLE_PREFIXES = ("__otel_", "__dd_", "__pregel_")


def clean_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of client metadata without the server-owned keys."""
    return _without(metadata or {}, lambda key: key in RESERVED_METADATA_KEYS, "metadata")


def clean_configurable(values: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``config.configurable`` or ``context`` without the server-owned keys."""
    return _without(
        values or {},
        lambda key: (
            key in RESERVED_CONFIGURABLE_KEYS or key.startswith(RESERVED_CONFIGURABLE_PREFIXES)
        ),
        "configurable",
    )


def _without(values: dict[str, Any], reserved, where: str) -> dict[str, Any]:
    dropped = [key for key in values if reserved(key)]
    if dropped:
        logger.warning("ignoring reserved %s keys from the client: %s", where, dropped)
    return {key: value for key, value in values.items() if key not in dropped}
