"""Granting a new app's permissions to role groups that already exist (from a migration)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.management import create_permissions


def grant_to_roles(app_label: str, grants: dict[str, list[str]]) -> Callable:
    """A RunPython function: create ``app_label``'s permissions now (Django would only after
    the migrations) and add ``grants`` (role → codenames) to the role groups that exist.
    Fresh databases get their groups, with these grants, from apps.tenancy.roles."""

    def grant(apps, schema_editor) -> None:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # a migration's app registry has no models module
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for group in Group.objects.filter(name__in=grants):
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=grants[group.name]
                )
            )

    return grant
