"""The store endpoints (reference §8): long-term memory items and namespaces, of the caller's
tenant."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import NOT_PROVIDED
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import validated
from apps.core.params import query_bool
from apps.memory.serializers import (
    ItemDeleteSerializer,
    ItemPutSerializer,
    ItemSearchSerializer,
    NamespaceListSerializer,
    item_json,
    namespace_from_query,
)
from apps.memory.store import DjangoStore, get_store
from apps.tenancy.authorization import authorize

KEY_REQUIRED = "Key is required"


def _authorized(request: Request, action: str, value: dict[str, Any]) -> DjangoStore:
    """The caller's tenant's store, once it may do ``action`` (reference resource ``store``).
    The project's handler may rewrite ``value`` in place (e.g. root the namespace at the
    user); its filters narrow a search."""
    principal = authorize(request.principal, "store", action, value)
    if principal.filters and action == "search":
        value["filter"] = {**(value.get("filter") or {}), **principal.filters}
    if isinstance(value.get("namespace"), list | tuple):
        value["namespace"] = tuple(value["namespace"])
    return get_store(principal.tenant_id, owner=principal.identity)


class StoreItemView(APIView):
    def get(self, request: Request) -> Response:
        params = request.query_params
        key = params.get("key")
        if not key:
            # The reference answers {"error": ...}; both client styles read one of the keys.
            return Response({"detail": KEY_REQUIRED, "error": KEY_REQUIRED}, status=400)
        value = {"namespace": namespace_from_query(params.get("namespace", "")), "key": key}
        store = _authorized(request, "get", value)
        refresh = query_bool(params, "refresh_ttl") if params.get("refresh_ttl") else None
        item = store.get(value["namespace"], value["key"], refresh_ttl=refresh)
        return Response(item_json(item) if item is not None else None)

    def put(self, request: Request) -> Response:
        data = validated(ItemPutSerializer, request.data)
        value = {key: data[key] for key in ("namespace", "key", "value", "index")}
        store = _authorized(request, "put", value)
        store.put(
            value["namespace"],
            value["key"],
            value["value"],
            index=value["index"],
            # null and absent both mean the store's default TTL, as in the reference server
            ttl=data["ttl"] if data["ttl"] is not None else NOT_PROVIDED,
        )
        return Response(status=204)

    def delete(self, request: Request) -> Response:
        data = validated(ItemDeleteSerializer, request.data)
        value = {"namespace": data["namespace"], "key": data["key"]}
        _authorized(request, "delete", value).delete(value["namespace"], value["key"])
        return Response(status=204)


class StoreItemSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ItemSearchSerializer, request.data)
        value = {
            "namespace": tuple(data.get("namespace_prefix") or ()),
            "filter": data["filter"],
            "limit": data["limit"],
            "offset": data["offset"],
            "query": data["query"],
        }
        store = _authorized(request, "search", value)
        items = store.search(
            value["namespace"],
            query=value["query"] or None,
            filter=value["filter"],
            limit=value["limit"],
            offset=value["offset"],
            refresh_ttl=data["refresh_ttl"],
        )
        semantic = bool(value["query"]) and store.index_config is not None
        return Response({"items": [item_json(item, with_score=semantic) for item in items]})


class StoreNamespaceListView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(NamespaceListSerializer, request.data)
        value = {
            "namespace": tuple(data.get("prefix") or ()),
            "suffix": tuple(data.get("suffix") or ()),
            "max_depth": data.get("max_depth"),
            "limit": data["limit"],
            "offset": data["offset"],
        }
        store = _authorized(request, "list_namespaces", value)
        namespaces = store.list_namespaces(
            prefix=value["namespace"] or None,
            suffix=value["suffix"] or None,
            max_depth=value["max_depth"],
            limit=value["limit"],
            offset=value["offset"],
        )
        return Response({"namespaces": [list(namespace) for namespace in namespaces]})
