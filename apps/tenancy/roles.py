"""What each role may do by default. Each role is a Django group of the same name, seeded
once with these permissions; operators change policy by editing the groups in the admin, and
the seeding never undoes that."""

from __future__ import annotations

from apps.tenancy.models import DEFAULT_TENANT_ID, DEFAULT_TENANT_SLUG, Role

VIEWER = (
    "graphs.view_assistant",
    "threads.view_thread",
    "runs.view_run",
    "memory.view_storeitem",
    "crons.view_cron",
)
MEMBER = (
    *VIEWER,
    "threads.add_thread",
    "threads.change_thread",
    "threads.delete_thread",
    "runs.add_run",
    "runs.change_run",
    "runs.delete_run",
    "memory.add_storeitem",
    "memory.change_storeitem",
    "memory.delete_storeitem",
)
ADMIN = (
    *MEMBER,
    "graphs.add_assistant",
    "graphs.change_assistant",
    "graphs.delete_assistant",
    "crons.add_cron",
    "crons.change_cron",
    "crons.delete_cron",
    "tenancy.view_apikey",
    "tenancy.add_apikey",
    "tenancy.change_apikey",
    "tenancy.delete_apikey",
    "tenancy.view_membership",
    "tenancy.view_auditentry",
    "webhooks.view_webhookdelivery",
)
OWNER = (
    *ADMIN,
    "tenancy.add_membership",
    "tenancy.change_membership",
    "tenancy.delete_membership",
    "tenancy.change_tenant",
)
DEFAULT_GRANTS = {Role.VIEWER: VIEWER, Role.MEMBER: MEMBER, Role.ADMIN: ADMIN, Role.OWNER: OWNER}


def seed(**_: object) -> None:
    """Create the default tenant and any missing role group (post_migrate: idempotent, and a
    no-op until every app's permissions exist)."""
    from django.contrib.auth.models import Group, Permission
    from django.db import connection

    from apps.tenancy.models import Tenant
    from apps.tenancy.principal import forget_role_permissions

    if Tenant._meta.db_table not in connection.introspection.table_names():
        return  # migrating only some apps, tenancy not among them yet
    Tenant.objects.get_or_create(
        tenant_id=DEFAULT_TENANT_ID, defaults={"slug": DEFAULT_TENANT_SLUG, "name": "Default"}
    )
    wanted = {perm for grants in DEFAULT_GRANTS.values() for perm in grants}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
        if f"{app_label}.{codename}" in wanted
    }
    if len(found) < len(wanted):
        return
    for role, grants in DEFAULT_GRANTS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created:
            group.permissions.set([found[perm] for perm in grants])
    forget_role_permissions()
