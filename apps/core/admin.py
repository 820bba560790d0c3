"""Admin building blocks shared by the apps."""

from __future__ import annotations

from django.http import HttpRequest


class ViewOnlyAdminMixin:
    """For rows only the server writes (checkpoints, the audit log, deliveries): operators
    look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
