"""Who is acting: the Principal resolved for every request, websocket and run.

A principal belongs to one tenant. Its ``permissions`` are what its role's Django group grants
(``app_label.codename``), plus, for principals that are Django users, django-guardian object
permissions checked per object. ``filters`` are the metadata filters a custom auth handler
returned for the action at hand (``apps.tenancy.customauth``): scoped querysets apply them on
top of the tenant.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any

from apps.core.errors import ApiError
from apps.tenancy.models import DEFAULT_TENANT_ID, Role

ROLE_PERMISSIONS_TTL = 5.0  # seconds a process trusts its copy of the role groups' permissions


class Forbidden(ApiError):
    status_code = 403


class Unauthorized(ApiError):
    status_code = 401


@dataclasses.dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    identity: str
    role: str = Role.MEMBER
    kind: str = "apikey"  # "apikey", "custom" (auth.py), or "local" (AGENTSERVER_AUTH=none)
    display_name: str = ""
    user_id: int | None = None  # the Django user, for guardian object permissions
    # Permissions as the auth handler or the role grants them, for ``langgraph_auth_permissions``.
    scopes: tuple[str, ...] = ()
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    filters: dict[str, Any] | None = None

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Whether the role grants ``perm`` (``app_label.codename``), or, for a Django user,
        guardian grants it on ``obj``."""
        if perm in role_permissions(self.role):
            return True
        if obj is None or self.user_id is None:
            return False
        from django.contrib.auth import get_user_model
        from guardian.core import ObjectPermissionChecker

        user = get_user_model().objects.filter(pk=self.user_id, is_active=True).first()
        return user is not None and ObjectPermissionChecker(user).has_perm(
            perm.split(".", 1)[1], obj
        )

    def require(self, perm: str, obj: Any = None) -> None:
        """Raise 403 unless ``has_perm(perm, obj)``."""
        if not self.has_perm(perm, obj):
            raise Forbidden(f"Forbidden: your role ({self.role}) may not {_describe(perm)}")

    def with_filters(self, filters: dict[str, Any] | None) -> Principal:
        return dataclasses.replace(self, filters=filters or None)

    def auth_user(self) -> dict[str, Any]:
        """The user as graphs see it in ``config["configurable"]["langgraph_auth_user"]``."""
        return {
            **self.extra,
            "identity": self.identity,
            "display_name": self.display_name or self.identity,
            "is_authenticated": self.kind != "local",
            "permissions": list(self.scopes),
            "tenant_id": str(self.tenant_id),
            "role": self.role,
        }

    def to_json(self) -> dict[str, Any]:
        """What a run stores to act as this principal later (``from_json``)."""
        return {
            "tenant_id": str(self.tenant_id),
            "identity": self.identity,
            "role": self.role,
            "kind": self.kind,
            "display_name": self.display_name,
            "user_id": self.user_id,
            "scopes": list(self.scopes),
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Principal:
        return cls(
            tenant_id=uuid.UUID(data["tenant_id"]),
            identity=data["identity"],
            role=data.get("role", Role.MEMBER),
            kind=data.get("kind", "apikey"),
            display_name=data.get("display_name", ""),
            user_id=data.get("user_id"),
            scopes=tuple(data.get("scopes") or ()),
            extra=data.get("extra") or {},
        )


def local_principal() -> Principal:
    """The one principal of ``AGENTSERVER_AUTH=none``: the owner of the default tenant."""
    return Principal(
        tenant_id=DEFAULT_TENANT_ID,
        identity="local",
        role=Role.OWNER,
        kind="local",
        display_name="local",
    )


def _describe(perm: str) -> str:
    action, _, model = perm.split(".", 1)[1].partition("_")
    return f"{action} {model}s"


_cache_lock = threading.Lock()
_cache: tuple[float, dict[str, frozenset[str]]] | None = None


def role_permissions(role: str) -> frozenset[str]:
    """The permissions of the Django group named ``role``, cached for a few seconds so an
    operator's change in the admin reaches every process soon without a query per request."""
    global _cache
    cached = _cache
    if cached is None or time.monotonic() - cached[0] > ROLE_PERMISSIONS_TTL:
        with _cache_lock:
            cached = _cache
            if cached is None or time.monotonic() - cached[0] > ROLE_PERMISSIONS_TTL:
                cached = _cache = (time.monotonic(), _load_role_permissions())
    return cached[1].get(role, frozenset())


def forget_role_permissions() -> None:
    """Drop this process's cached role permissions (after a change, and in tests)."""
    global _cache
    _cache = None


def _load_role_permissions() -> dict[str, frozenset[str]]:
    from django.contrib.auth.models import Permission

    grants: dict[str, set[str]] = {role: set() for role in Role.values}
    rows = Permission.objects.filter(group__name__in=Role.values).values_list(
        "group__name", "content_type__app_label", "codename"
    )
    for group, app_label, codename in rows:
        grants[group].add(f"{app_label}.{codename}")
    return {role: frozenset(perms) for role, perms in grants.items()}
