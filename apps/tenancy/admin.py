"""The operators' admin: tenants, members, API keys and the audit log; and ``OperatorAdmin``,
the base of every admin page of user data, which checks guardian object permissions and
records each change in the audit log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from guardian.admin import GuardedModelAdmin
from guardian.shortcuts import get_objects_for_user

from apps.core.admin import ViewOnlyAdminMixin
from apps.tenancy.models import ApiKey, AuditEntry, Membership, Tenant
from apps.tenancy.services import api_key_create, api_key_revoke, audit


class OperatorAdmin(GuardedModelAdmin):
    """Who may view, change or delete an object: a model permission (a role group's, or the
    user's own) or a guardian object permission on that object. Every change made here is an
    audit entry."""

    # Fields that tie a row to its tenant: set when it is made, never moved by an edit (an
    # operator with a permission on one object must not hand it to another tenant).
    tenant_fields = ("tenant",)

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        pinned = [name for name in self.tenant_fields if _has_field(self.model, name)]
        return fields + tuple(name for name in pinned if name not in fields)

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def _allowed(self, request, action: str, obj=None) -> bool:
        perm = self._perm(action)
        return request.user.has_perm(perm) or (obj is not None and request.user.has_perm(perm, obj))

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is None and self._granted(request).exists():
            return True  # the list, narrowed by get_queryset to the granted objects
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "delete", obj)

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) or self._granted(request).exists()

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.has_perm(self._perm("view")) or request.user.has_perm(self._perm("change")):
            return rows
        return rows.filter(pk__in=self._granted(request).values("pk"))

    def _granted(self, request):
        """The objects the user holds a view or change object permission on."""
        return get_objects_for_user(
            request.user,
            [self._perm("view"), self._perm("change")],
            klass=self.model,
            any_perm=True,
            accept_global_perms=False,
        )

    def log_addition(self, request, obj, message):
        self._audit(request, "admin.add", obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, "admin.change", obj, change=str(message))
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, "admin.delete", obj)
        return super().log_deletions(request, queryset)

    def _audit(self, request, action: str, obj, **detail) -> None:
        tenant_id = getattr(obj, "tenant_id", None)
        audit(
            actor=request.user.get_username(),
            action=action,
            target=obj,
            tenant=Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None,
            **detail,
        )


def _has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.get_fields())


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(OperatorAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("tenant_id", "created_at", "updated_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(OperatorAdmin):
    tenant_fields = ("tenant", "user")

    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "tenant__slug")
    autocomplete_fields = ("user", "tenant")


@admin.register(ApiKey)
class ApiKeyAdmin(OperatorAdmin):
    tenant_fields = ("membership",)

    list_display = ("name", "prefix", "membership", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("membership__tenant",)
    search_fields = ("name", "prefix", "membership__user__username")
    fields = ("membership", "name", "expires_at", "prefix", "revoked_at", "last_used_at")
    readonly_fields = ("prefix", "revoked_at", "last_used_at")
    actions = ["revoke"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Without the global permission to see memberships, an operator makes keys for their
        # own memberships only.
        if db_field.name == "membership" and not request.user.has_perm("tenancy.view_membership"):
            kwargs["queryset"] = Membership.objects.filter(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new key is made by the service (the digest, not the key, is stored) and its key
        # is shown to the operator this once.
        row, key = api_key_create(
            membership=obj.membership,
            name=obj.name,
            actor=request.user.get_username(),
            expires_at=obj.expires_at,
        )
        obj.pk, obj.prefix, obj.digest, obj._state.adding = row.pk, row.prefix, row.digest, False
        messages.warning(request, f"The new API key, shown this once only: {key}")

    def log_addition(self, request, obj, message):
        # api_key_create has audited it already.
        return admin.ModelAdmin.log_addition(self, request, obj, message)

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=key, actor=request.user.get_username())
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M:%S}.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor", "action", "target_type", "target_id", "tenant")
    list_filter = ("action", "target_type", "tenant")
    search_fields = ("actor", "target_id")
    date_hierarchy = "at"
