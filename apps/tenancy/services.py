"""Verbs on tenants, memberships and API keys; each operator action is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.tenancy import keys
from apps.tenancy.models import ApiKey, AuditEntry, Membership, Role, Tenant


def audit(
    *, actor: str, action: str, target: Any, tenant: Tenant | None = None, **detail: Any
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``target`` (a model instance)."""
    return AuditEntry.objects.create(
        actor=actor,
        tenant=tenant,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        detail=detail,
    )


def membership_ensure(*, tenant: Tenant, username: str, role: str, actor: str) -> Membership:
    """The user's membership of ``tenant`` in ``role``; the user and membership are made when
    missing (the user without a password: API keys are how it signs in)."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(Role.values)}")
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=username)
        membership, created = Membership.objects.get_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        changed = created or membership.role != role
        if changed and not created:
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
        if changed:
            audit(actor=actor, action="membership.set", target=membership, tenant=tenant, role=role)
    return membership


def api_key_create(
    *, membership: Membership, name: str, actor: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for ``membership``: the row, and the key itself (shown this once only)."""
    key, prefix, digest = keys.new_key()
    with transaction.atomic():
        row = ApiKey.objects.create(
            membership=membership, name=name, prefix=prefix, digest=digest, expires_at=expires_at
        )
        audit(
            actor=actor,
            action="api_key.create",
            target=row,
            tenant=membership.tenant,
            name=name,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
    return row, key


def api_key_revoke(*, api_key: ApiKey, actor: str) -> ApiKey:
    """Revoke ``api_key`` at once (idempotent); the row stays for the record."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit(
                actor=actor,
                action="api_key.revoke",
                target=api_key,
                tenant=api_key.membership.tenant,
            )
    api_key.refresh_from_db()
    return api_key
