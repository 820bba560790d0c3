"""Callers of the API with real API keys, in tenants of their own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from apps.tenancy.models import Membership, Tenant
from apps.tenancy.principal import forget_role_permissions
from apps.tenancy.services import api_key_create, membership_ensure


@dataclass
class Caller:
    """Someone with an API key: ``api`` sends it on every request."""

    key: str
    membership: Membership
    api: APIClient

    @property
    def tenant(self) -> Tenant:
        return self.membership.tenant


def make_caller(tenant_slug: str, username: str, role: str) -> Caller:
    tenant, _ = Tenant.objects.get_or_create(slug=tenant_slug, defaults={"name": tenant_slug})
    membership = membership_ensure(tenant=tenant, username=username, role=role, actor="test")
    _, key = api_key_create(membership=membership, name="test", actor="test")
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)
    return Caller(key=key, membership=membership, api=api)


@pytest.fixture(autouse=True)
def _api_keys_required(settings):
    settings.AGENTSERVER_AUTH = "apikey"
    forget_role_permissions()
    yield
    forget_role_permissions()


@pytest.fixture
def alice(db) -> Caller:
    """A member of tenant acme."""
    return make_caller("acme", "alice", "member")


@pytest.fixture
def mallory(db) -> Caller:
    """A member of another tenant, globex."""
    return make_caller("globex", "mallory", "member")
