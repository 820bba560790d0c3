"""Who is calling: the Principal of an HTTP request (and, through the same functions, of a
websocket).

``AGENTSERVER_AUTH`` picks the scheme: ``apikey`` (the default) checks our API keys, sent as
``x-api-key`` or ``Authorization: Bearer``; ``none`` lets everyone act as the default tenant's
owner. A project whose langgraph.json names ``auth.path`` with an ``@auth.authenticate``
handler authenticates with it instead (unless ``none``).
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import UTC, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.dbthreads import db_threads
from apps.tenancy import keys
from apps.tenancy.customauth import custom_auth
from apps.tenancy.models import ApiKey, Membership
from apps.tenancy.principal import Principal, Unauthorized, local_principal

logger = logging.getLogger(__name__)

LAST_USED_PRECISION = timedelta(minutes=1)  # ``last_used_at`` is written at most this often


def auth_disabled() -> bool:
    return settings.AGENTSERVER_AUTH == "none"


def auth_scheme() -> str:
    """``none``, ``custom`` or ``apikey``: what ``/info`` reports and the server logs."""
    if auth_disabled():
        return "none"
    custom = custom_auth()
    return "custom" if custom is not None and custom.authenticates else "apikey"


async def aauthenticate(request: HttpRequest) -> Principal:
    """The request's principal; Unauthorized / Forbidden (or the project handler's own HTTP
    error) when it has none."""
    scheme = auth_scheme()
    if scheme == "none":
        return local_principal()
    if scheme == "custom":
        return await custom_auth().authenticate(request)
    return await db_threads().arun(principal_for_key, api_key_of(request))


def authenticate(request: HttpRequest) -> Principal:
    """``aauthenticate`` for synchronous callers."""
    scheme = auth_scheme()
    if scheme == "none":
        return local_principal()
    if scheme == "custom":
        return async_to_sync(custom_auth().authenticate)(request)
    return principal_for_key(api_key_of(request))


def api_key_of(request: HttpRequest) -> str:
    """The API key the request carries (``x-api-key``, else ``Authorization: Bearer``)."""
    key = request.headers.get("x-api-key")
    if key is None:
        authorization = request.headers.get("authorization")
        if authorization is None:
            raise Unauthorized("Missing API key: send it in the x-api-key header")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("Malformed Authorization header: expected 'Bearer <API key>'")
    key = key.strip()
    if len(key) > keys.MAX_KEY_LENGTH or keys.prefix_of(key) is None:
        raise Unauthorized("Invalid API key")
    return key


def principal_for_key(key: str) -> Principal:
    """The principal ``key`` acts for: its membership's user, role and tenant."""
    found = _key_row(keys.prefix_of(key))
    if found is None or not keys.digest_matches(key, found["digest"]):
        raise Unauthorized("Invalid API key")
    now = timezone.now()
    if found["revoked_at"] is not None:
        raise Unauthorized("API key revoked")
    if found["expires_at"] is not None and found["expires_at"] <= now:
        raise Unauthorized("API key expired")
    if not found["is_active"]:
        raise Unauthorized("API key of an inactive user")
    if found["last_used_at"] is None or now - found["last_used_at"] > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=found["key_id"]).update(last_used_at=now)
    full_name = " ".join(part for part in (found["first_name"], found["last_name"]) if part)
    return Principal(
        tenant_id=uuid.UUID(str(found["tenant_id"])),
        identity=found["username"],
        role=found["role"],
        kind="apikey",
        display_name=full_name or found["username"],
        user_id=found["user_id"],
        scopes=("authenticated", found["role"]),
    )


def _key_row(prefix: str) -> dict[str, Any] | None:
    """The key's row with its membership and user, by prefix.

    Raw SQL because it runs on every request: the ORM spent twice the database's time
    compiling this join. Timestamps come back naive on SQLite and are made aware here.
    """
    with connection.cursor() as cursor:
        cursor.execute(_key_sql(), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    found = dict(zip(KEY_COLUMNS, row, strict=True))
    for name in ("revoked_at", "expires_at", "last_used_at"):
        value = found[name]
        if isinstance(value, str):
            value = parse_datetime(value)
        if value is not None and timezone.is_naive(value):  # SQLite keeps UTC without offset
            value = timezone.make_aware(value, UTC)
        found[name] = value
    return found


KEY_COLUMNS = (
    "key_id",
    "digest",
    "revoked_at",
    "expires_at",
    "last_used_at",
    "role",
    "tenant_id",
    "user_id",
    "username",
    "first_name",
    "last_name",
    "is_active",
)


@functools.cache
def _key_sql() -> str:
    user = get_user_model()._meta
    return (
        "SELECT k.key_id, k.digest, k.revoked_at, k.expires_at, k.last_used_at, m.role, "
        f"m.tenant_id, u.{user.pk.column}, u.username, u.first_name, u.last_name, u.is_active "
        f"FROM {ApiKey._meta.db_table} k "
        f"JOIN {Membership._meta.db_table} m ON m.id = k.membership_id "
        f"JOIN {user.db_table} u ON u.{user.pk.column} = m.user_id "
        "WHERE k.prefix = %s"
    )
