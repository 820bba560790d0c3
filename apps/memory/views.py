"""The store endpoints (reference §8): long-term memory items and namespaces."""

from __future__ import annotations

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
from apps.memory.store import get_store

KEY_REQUIRED = "Key is required"


class StoreItemView(APIView):
    def get(self, request: Request) -> Response:
        params = request.query_params
        key = params.get("key")
        if not key:
            # The reference answers {"error": ...}; both client styles read one of the keys.
            return Response({"detail": KEY_REQUIRED, "error": KEY_REQUIRED}, status=400)
        namespace = namespace_from_query(params.get("namespace", ""))
        refresh = query_bool(params, "refresh_ttl") if params.get("refresh_ttl") else None
        item = get_store().get(namespace, key, refresh_ttl=refresh)
        return Response(item_json(item) if item is not None else None)

    def put(self, request: Request) -> Response:
        data = validated(ItemPutSerializer, request.data)
        get_store().put(
            data["namespace"],
            data["key"],
            data["value"],
            index=data["index"],
            # null and absent both mean the store's default TTL, as in the reference server
            ttl=data["ttl"] if data["ttl"] is not None else NOT_PROVIDED,
        )
        return Response(status=204)

    def delete(self, request: Request) -> Response:
        data = validated(ItemDeleteSerializer, request.data)
        get_store().delete(data["namespace"], data["key"])
        return Response(status=204)


class StoreItemSearchView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(ItemSearchSerializer, request.data)
        store = get_store()
        items = store.search(
            data.get("namespace_prefix") or (),
            query=data["query"] or None,
            filter=data["filter"],
            limit=data["limit"],
            offset=data["offset"],
            refresh_ttl=data["refresh_ttl"],
        )
        semantic = bool(data["query"]) and store.index_config is not None
        return Response({"items": [item_json(item, with_score=semantic) for item in items]})


class StoreNamespaceListView(APIView):
    def post(self, request: Request) -> Response:
        data = validated(NamespaceListSerializer, request.data)
        namespaces = get_store().list_namespaces(
            prefix=data.get("prefix") or None,
            suffix=data.get("suffix") or None,
            max_depth=data.get("max_depth"),
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response({"namespaces": [list(namespace) for namespace in namespaces]})
