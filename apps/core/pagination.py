"""Limit/offset pages as the reference server returns them: a bare array plus headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
