"""Scoped querysets: every read of a user-owned row goes through ``visible_to(principal)``.

A row is visible to a principal when it belongs to the principal's tenant and its metadata
matches the filters the project's auth handler returned for the action at hand, if any.
Another tenant's row is simply absent: callers answer 404, never 403.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.tenancy.filters import metadata_filter
from apps.tenancy.principal import Principal


class TenantQuerySet(models.QuerySet):
    # The field (maybe across a relation) whose JSON the auth filters apply to.
    filtered_metadata = "metadata"

    def visible_to(self, principal: Principal) -> TenantQuerySet:
        rows = self.filter(self.tenant_condition(principal))
        if principal.filters:
            rows = rows.filter(metadata_filter(principal.filters, self.filtered_metadata))
        return rows

    def tenant_condition(self, principal: Principal) -> Q:
        return Q(tenant_id=principal.tenant_id)
