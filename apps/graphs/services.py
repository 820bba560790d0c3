"""Verbs on assistants: create, update (a new version), point at a version, delete, and keep
one default assistant per registered graph."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.core.errors import BadRequest, Conflict, NotFound
from apps.core.reserved import clean_configurable, clean_metadata
from apps.graphs.models import Assistant, AssistantVersion
from apps.graphs.registry import Registry, default_assistant_id, registry
from apps.tenancy.principal import Forbidden, Principal

UNSET: Any = object()


def config_and_context(
    config: dict[str, Any] | None, context: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mirror ``config.configurable`` and ``context`` into each other; both at once is a 400."""
    config = dict(config or {})
    configurable = config.get("configurable")
    if configurable and context:
        raise BadRequest(
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement "
            "for configurable."
        )
    if configurable:
        configurable = clean_configurable(configurable)
        config["configurable"] = configurable
        return config, dict(configurable)
    if context:
        context = clean_configurable(context)
        config["configurable"] = dict(context)
        return config, context
    return config, {}


def _require_graph(graph_id: str) -> None:
    if not registry().has_graph(graph_id):
        raise NotFound(f"Graph '{graph_id}' not found")


def _snapshot(assistant: Assistant) -> AssistantVersion:
    return AssistantVersion.objects.create(
        assistant=assistant,
        version=assistant.version,
        graph_id=assistant.graph_id,
        name=assistant.name,
        description=assistant.description,
        config=assistant.config,
        context=assistant.context,
        metadata=assistant.metadata,
    )


def assistant_create(
    *,
    principal: Principal | None,
    graph_id: str,
    assistant_id: uuid.UUID | None = None,
    config: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    if_exists: str = "raise",
) -> Assistant:
    """Create an assistant of ``principal``'s tenant (``None``: a default assistant, which
    every tenant sees) at version 1; with ``if_exists="do_nothing"`` return the existing one.

    Raises NotFound for an unregistered graph, Conflict for an existing id under ``raise`` (or
    taken by an assistant the principal may not see).
    """
    _require_graph(graph_id)
    config, context = config_and_context(config, context)
    assistant_id = assistant_id or uuid.uuid4()
    try:
        with transaction.atomic():
            assistant = Assistant.objects.create(
                assistant_id=assistant_id,
                tenant_id=principal.tenant_id if principal else None,
                owner=principal.identity if principal else "",
                graph_id=graph_id,
                config=config,
                context=context,
                metadata=clean_metadata(metadata),
                name=name or "Untitled",
                description=description,
            )
            _snapshot(assistant)
    except IntegrityError:
        if not Assistant.objects.filter(assistant_id=assistant_id).exists():
            raise
        mine = Assistant.objects.visible_to(principal) if principal else Assistant.objects
        existing = mine.filter(assistant_id=assistant_id).first()
        if existing is not None and if_exists == "do_nothing":
            return existing
        raise Conflict(f"Assistant {assistant_id} already exists") from None
    return assistant


def assistant_update(
    *,
    assistant_id: uuid.UUID,
    graph_id: str | None = None,
    config: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    description: Any = UNSET,
) -> Assistant:
    """Write a new version (highest + 1) from the given fields over the current ones, and make
    it current. ``metadata`` is merged; the other fields are replaced when given."""
    if graph_id is not None:
        _require_graph(graph_id)
    with transaction.atomic():
        assistant = Assistant.objects.select_for_update().filter(assistant_id=assistant_id).first()
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        if config is not None:
            new_config, mirrored = config_and_context(config, context)
            assistant.config = new_config
            if context is not None or new_config.get("configurable"):
                assistant.context = mirrored
        elif context is not None:
            _, new_context = config_and_context(None, context)
            assistant.context = new_context
            assistant.config = {**assistant.config, "configurable": dict(new_context)}
        if graph_id is not None:
            assistant.graph_id = graph_id
        if name is not None:
            assistant.name = name
        if description is not UNSET:
            assistant.description = description
        if metadata is not None:
            assistant.metadata = {**assistant.metadata, **clean_metadata(metadata)}
        latest = assistant.versions.aggregate(latest=Max("version"))["latest"] or 0
        assistant.version = latest + 1
        assistant.save()
        _snapshot(assistant)
    return assistant


def assistant_set_latest(*, assistant_id: uuid.UUID, version: int) -> Assistant:
    """Make an existing version current again (its fields become the assistant's)."""
    with transaction.atomic():
        assistant = Assistant.objects.select_for_update().filter(assistant_id=assistant_id).first()
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        chosen = assistant.versions.filter(version=version).first()
        if chosen is None:
            raise NotFound(f"Assistant {assistant_id} has no version {version}")
        for field in ("graph_id", "name", "description", "config", "context", "metadata"):
            setattr(assistant, field, getattr(chosen, field))
        assistant.version = chosen.version
        assistant.save()
    return assistant


def assistant_delete(
    *, principal: Principal, assistant_id: uuid.UUID, delete_threads: bool = False
) -> None:
    """Delete an assistant with all its versions; optionally the threads (of ``principal``)
    it ran on too."""
    deleted, _ = Assistant.objects.filter(assistant_id=assistant_id).delete()
    if not deleted:
        raise NotFound(f"Assistant {assistant_id} not found")
    if delete_threads:
        from apps.threads.services import threads_delete_for_assistant

        threads_delete_for_assistant(principal=principal, assistant_id=assistant_id)


def check_changeable(principal: Principal, assistant: Assistant) -> None:
    """A graph's default assistant is the deployment's: with authentication on, no tenant
    changes or deletes it through the API (the project file and the admin do)."""
    if assistant.tenant_id is None and principal.kind != "local":
        raise Forbidden(
            f"Assistant {assistant.assistant_id} is the default assistant of graph "
            f"'{assistant.graph_id}' and belongs to the deployment; create your own instead"
        )


def assistants_sync_defaults(*, graphs: Registry | None = None) -> list[Assistant]:
    """Ensure each registered graph has its system assistant (the reference's uuid5 id) and
    re-sync its name and description from the project file."""
    graphs = graphs or registry()
    assistants = []
    for graph_id, spec in graphs.project.graphs.items():
        name = graphs.default_name(graph_id)
        assistant = assistant_create(
            principal=None,
            graph_id=graph_id,
            assistant_id=default_assistant_id(graph_id),
            metadata={"created_by": "system"},
            name=name,
            description=spec.description,
            if_exists="do_nothing",
        )
        if (assistant.name, assistant.description) != (name, spec.description):
            Assistant.objects.filter(pk=assistant.pk).update(
                name=name, description=spec.description
            )
            AssistantVersion.objects.filter(assistant=assistant, version=assistant.version).update(
                name=name, description=spec.description
            )
            assistant.name, assistant.description = name, spec.description
        assistants.append(assistant)
    return assistants
