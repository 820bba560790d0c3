"""Reads of assistants. Assistants of graphs this server does not serve are hidden, as on the
reference server."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.core.jsonfilters import json_contains
from apps.graphs.models import Assistant, AssistantVersion
from apps.graphs.registry import default_assistant_id, registry
from apps.tenancy.principal import Principal

ASSISTANT_SORT_FIELDS = ("assistant_id", "graph_id", "name", "created_at", "updated_at")


def assistants_visible(principal: Principal) -> QuerySet[Assistant]:
    """``principal``'s tenant's assistants and the graphs' default ones, of served graphs."""
    return Assistant.objects.visible_to(principal).filter(graph_id__in=registry().graph_ids)


def assistant_get(*, principal: Principal, assistant_id: uuid.UUID) -> Assistant:
    assistant = assistants_visible(principal).filter(assistant_id=assistant_id).first()
    if assistant is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return assistant


def assistant_resolve(*, principal: Principal, assistant_id: str) -> Assistant:
    """An assistant by UUID, or by graph name (that graph's default assistant)."""
    if registry().has_graph(assistant_id):
        return assistant_get(principal=principal, assistant_id=default_assistant_id(assistant_id))
    try:
        parsed = uuid.UUID(assistant_id)
    except ValueError:
        raise NotFound(f"Assistant {assistant_id} not found") from None
    return assistant_get(principal=principal, assistant_id=parsed)


def assistants_filtered(
    *,
    principal: Principal,
    metadata: dict[str, Any] | None = None,
    graph_id: str | None = None,
    name: str | None = None,
) -> QuerySet[Assistant]:
    queryset = assistants_visible(principal).filter(
        json_contains(Assistant, "metadata", metadata or {})
    )
    if graph_id is not None:
        if not registry().has_graph(graph_id):
            raise NotFound(f"Graph '{graph_id}' not found")
        queryset = queryset.filter(graph_id=graph_id)
    if name:
        queryset = queryset.filter(name__icontains=name)
    return queryset


def assistant_versions(
    *, principal: Principal, assistant_id: uuid.UUID, metadata: dict[str, Any] | None = None
) -> QuerySet[AssistantVersion]:
    return AssistantVersion.objects.filter(
        assistant__in=assistants_visible(principal), assistant_id=assistant_id
    ).filter(json_contains(AssistantVersion, "metadata", metadata or {}))
