"""Limit/offset pages as the reference server returns them: a bare array plus headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.response import Response


def page_headers(*, offset: int, limit: int, fetched: int) -> dict[str, str]:
    """Headers for a page read with ``limit + 1`` rows, so one more row means one more page."""
    if fetched > limit:
        return {
            "X-Pagination-Total": str(offset + limit + 1),
            "X-Pagination-Next": str(offset + limit),
        }
    return {"X-Pagination-Total": str(offset + fetched)}


def paginated_response(rows: Sequence[Any], *, offset: int, limit: int) -> Response:
    """``rows`` holds up to ``limit + 1`` items; the extra one only signals a next page."""
    headers = page_headers(offset=offset, limit=limit, fetched=len(rows))
    return Response(list(rows[:limit]), headers=headers)


def page_rows(
    queryset: QuerySet, data: dict[str, Any], *, default_sort: str = "created_at"
) -> list:
    """One page of a search (``sort_by``, ``sort_order``, ``offset``, ``limit`` from validated
    input; newest first by default) plus one more row that only signals a next page."""
    descending = (data.get("sort_order") or "desc").lower() == "desc"
    sort_by = data.get("sort_by") or default_sort
    ordered = queryset.order_by(f"{'-' if descending else ''}{sort_by}", "pk")
    return list(ordered[data["offset"] : data["offset"] + data["limit"] + 1])
