"""May this principal do this? Two layers, both on every API action:

1. Operator RBAC: the Django permission an action needs (``PERMISSIONS``) must be granted by
   the principal's role group, or, for a Django user, by a guardian object permission on the
   object at hand (e.g. ``change_assistant`` on one assistant).
2. The project's ``@auth.on`` handler for the (resource, action), when auth.py has one: it may
   deny, rewrite ``value`` in place, or return metadata filters.

The returned principal carries those filters; scoped querysets (``visible_to``) apply them.
Resources and actions are the reference's: runs, crons-on-threads and thread streams are
``threads`` actions.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from apps.tenancy.customauth import custom_auth
from apps.tenancy.principal import Principal

PERMISSIONS: dict[tuple[str, str], str] = {
    ("threads", "create"): "threads.add_thread",
    ("threads", "read"): "threads.view_thread",
    ("threads", "search"): "threads.view_thread",
    ("threads", "update"): "threads.change_thread",
    ("threads", "delete"): "threads.delete_thread",
    ("threads", "create_run"): "runs.add_run",
    ("assistants", "create"): "graphs.add_assistant",
    ("assistants", "read"): "graphs.view_assistant",
    ("assistants", "search"): "graphs.view_assistant",
    ("assistants", "update"): "graphs.change_assistant",
    ("assistants", "delete"): "graphs.delete_assistant",
    ("store", "put"): "memory.add_storeitem",
    ("store", "get"): "memory.view_storeitem",
    ("store", "search"): "memory.view_storeitem",
    ("store", "list_namespaces"): "memory.view_storeitem",
    ("store", "delete"): "memory.delete_storeitem",
    ("crons", "create"): "crons.add_cron",
    ("crons", "read"): "crons.view_cron",
    ("crons", "search"): "crons.view_cron",
    ("crons", "update"): "crons.change_cron",
    ("crons", "delete"): "crons.delete_cron",
}


def authorize(
    principal: Principal,
    resource: str,
    action: str,
    value: dict[str, Any] | None = None,
    *,
    obj: Any = None,
    perm: str | None = None,
) -> Principal:
    """``principal`` with the filters for this action; 403 when it may not. ``perm`` names
    the Django permission when it is narrower than the resource's (runs are ``threads``
    actions for auth handlers, but cancelling one needs ``runs.change_run``)."""
    principal.require(perm or PERMISSIONS[(resource, action)], obj)
    custom = custom_auth()
    if custom is None or custom.handler_for(resource, action) is None:
        return principal.with_filters(None)
    filters = async_to_sync(custom.authorize)(principal, resource, action, value or {})
    return principal.with_filters(filters)


async def aauthorize(
    principal: Principal,
    resource: str,
    action: str,
    value: dict[str, Any] | None = None,
    *,
    obj: Any = None,
    perm: str | None = None,
) -> Principal:
    """``authorize`` for async views: on a database thread, as the role check may read."""
    from apps.core.dbthreads import db_threads

    return await db_threads().arun(
        authorize, principal, resource, action, value, obj=obj, perm=perm
    )
