"""A project's own auth in the ``langgraph_sdk.Auth`` style (reference §9), named by
``auth.path`` in langgraph.json (``./auth.py:auth`` or ``module:auth``).

``@auth.authenticate`` turns a request into a user; ``@auth.on...`` handlers allow, deny,
rewrite the value (e.g. tag metadata with the owner) or return metadata filters that scoped
querysets apply. An auth.py written for the reference server works unchanged.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest

from apps.core.errors import ApiError
from apps.tenancy.filters import check_filters
from apps.tenancy.models import DEFAULT_TENANT_ID, Role, Tenant
from apps.tenancy.principal import Forbidden, Principal, Unauthorized

logger = logging.getLogger(__name__)


class AuthConfigError(Exception):
    """``auth.path`` names nothing usable; the server refuses to start."""


class AuthHTTPError(ApiError):
    """An ``Auth.exceptions.HTTPException`` raised by the project's handler, as raised."""

    def __init__(self, status_code: int, detail: str, headers: Mapping[str, str] | None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.headers = dict(headers or {})


class AuthUser(dict):
    """The user handlers and graphs see: a dict (``user["identity"]``) that also answers
    attribute access (``user.identity``), as the reference's user proxy does."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class RequestView:
    """The parts of a Starlette request that auth handlers written for the reference read."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self.method = request.method
        self.headers = request.headers
        self.query_params = _query_params(request)
        self.url = _Url(request)
        self.client = _Client(request.META.get("REMOTE_ADDR"))

    @functools.cached_property
    def path_params(self) -> dict[str, str]:
        return _path_params(self._request)


def _query_params(request: HttpRequest) -> dict[str, str]:
    return dict(parse_qsl(request.META.get("QUERY_STRING", "")))


def _path_params(request: HttpRequest) -> dict[str, str]:
    from django.urls import Resolver404, resolve

    try:
        return dict(resolve(request.path_info).kwargs)
    except Resolver404:
        return {}


class _Url:
    def __init__(self, request: HttpRequest) -> None:
        self.path = request.path
        self.query = request.META.get("QUERY_STRING", "")
        self._full = request.build_absolute_uri()

    def __str__(self) -> str:
        return self._full


class _Client:
    def __init__(self, host: str | None) -> None:
        self.host = host
        self.port = None


class CustomAuth:
    def __init__(self, auth: Any, path: str) -> None:
        self.auth = auth
        self.path = path

    @property
    def authenticates(self) -> bool:
        return self.auth._authenticate_handler is not None

    def handler_for(self, resource: str, action: str):
        """The most specific handler for (resource, action), or None (allowed)."""
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action)):
            if key in handlers:
                return handlers[key][0]
        return self.auth._global_handlers[0] if self.auth._global_handlers else None

    @functools.cached_property
    def _authenticate_parameters(self) -> list[str]:
        """The parameters ``@auth.authenticate`` takes that the server provides (by name)."""
        wanted = inspect.signature(self.auth._authenticate_handler).parameters
        return [name for name in wanted if name in AUTHENTICATE_PARAMETERS]

    async def authenticate(self, request: HttpRequest) -> Principal:
        """The request's principal, as the project's ``@auth.authenticate`` says. Only the
        parameters the handler names are built (this runs on every request)."""
        handler = self.auth._authenticate_handler
        arguments = {
            name: AUTHENTICATE_PARAMETERS[name](request) for name in self._authenticate_parameters
        }
        try:
            result = await handler(**arguments)
        except Exception as exc:
            raise _refusal(exc, default=Unauthorized) from exc
        return await _principal_from(result)

    async def authorize(
        self, principal: Principal, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run the handler for (resource, action) on ``value`` (which it may change in place):
        its filters, or None. A denial raises 403 (or the handler's own HTTP error)."""
        handler = self.handler_for(resource, action)
        if handler is None:
            return None
        from langgraph_sdk.auth.types import AuthContext

        user = AuthUser(principal.auth_user())
        ctx = AuthContext(
            permissions=list(principal.scopes), user=user, resource=resource, action=action
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except Exception as exc:
            raise _refusal(exc, default=Forbidden) from exc
        if result is None or result is True:
            return None
        if result is False:
            raise Forbidden("Forbidden")
        if isinstance(result, dict):
            try:
                return check_filters(result) or None
            except ValueError as exc:
                raise RuntimeError(f"auth handler for {resource}.{action}: {exc}") from exc
        raise RuntimeError(
            f"auth handler for {resource}.{action} returned {type(result).__name__}; "
            "expected None, a bool or a filter dict"
        )


AUTHENTICATE_PARAMETERS: dict[str, Callable[[HttpRequest], Any]] = {
    "request": RequestView,
    "path": lambda request: request.path,
    "method": lambda request: request.method,
    "path_params": _path_params,
    "query_params": _query_params,
    "headers": lambda request: {
        key.lower().encode(): value.encode("latin-1", "replace")
        for key, value in request.headers.items()
    },
    "authorization": lambda request: request.headers.get("authorization"),
    "scope": lambda request: {"type": "http", "path": request.path, "method": request.method},
    "scopes": lambda request: [],
    "user": lambda request: None,
}


def _refusal(exc: Exception, *, default: type[ApiError]) -> ApiError:
    from langgraph_sdk.auth.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return AuthHTTPError(exc.status_code, str(exc.detail), exc.headers)
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, AssertionError):
        logger.exception("the project's auth handler raised")
    return default(default.__name__ if default is Forbidden else "Unauthorized")


async def _principal_from(result: Any) -> Principal:
    """A Principal from what ``@auth.authenticate`` returned (reference §9.2 forms)."""
    permissions: list[str] = []
    if isinstance(result, tuple) and len(result) == 2:
        permissions, result = list(result[0] or []), result[1]
    if isinstance(result, str):
        user: dict[str, Any] = {"identity": result}
    elif isinstance(result, Mapping):
        user = dict(result)
    elif hasattr(result, "identity"):
        user = {
            name: getattr(result, name)
            for name in ("identity", "display_name", "is_authenticated", "permissions")
            if hasattr(result, name)
        }
    else:
        raise RuntimeError(f"@auth.authenticate returned {type(result).__name__}, not a user")
    identity = user.pop("identity", None)
    if not isinstance(identity, str) or not identity:
        raise RuntimeError("@auth.authenticate returned a user without a string identity")
    permissions = list(user.pop("permissions", None) or permissions)
    role = user.pop("role", Role.ADMIN)
    if role not in Role.values:
        raise Forbidden(f"Unknown role {role!r}")
    return Principal(
        tenant_id=await _tenant_id(user.pop("tenant", None) or user.pop("tenant_id", None)),
        identity=identity,
        role=role,
        kind="custom",
        display_name=str(user.pop("display_name", "") or identity),
        scopes=tuple(str(p) for p in permissions),
        extra=_jsonable(user),
    )


async def _tenant_id(named: Any) -> uuid.UUID:
    """The tenant a custom user names (slug or id); the default tenant when none."""
    if named is None:
        return DEFAULT_TENANT_ID
    from apps.core.dbthreads import db_threads

    def lookup() -> uuid.UUID | None:
        try:
            return (
                Tenant.objects.filter(tenant_id=uuid.UUID(str(named)))
                .values_list("tenant_id", flat=True)
                .first()
            )
        except ValueError:
            return (
                Tenant.objects.filter(slug=str(named)).values_list("tenant_id", flat=True).first()
            )

    tenant_id = await db_threads().arun(lookup)
    if tenant_id is None:
        raise Forbidden(f"Unknown tenant {named!r}")
    return tenant_id


def _jsonable(user: dict[str, Any]) -> dict[str, Any]:
    from apps.core.encoding import to_jsonable

    user.pop("is_authenticated", None)
    return to_jsonable(user)


@functools.cache
def _load(path: str, root: str) -> CustomAuth:
    from langgraph_sdk import Auth

    module_ref, _, attribute = path.rpartition(":")
    if not module_ref or not attribute:
        raise AuthConfigError(f"auth.path {path!r} must be 'file.py:name' or 'module:name'")
    try:
        if module_ref.endswith(".py") or "/" in module_ref:
            file = (Path(root) / module_ref).resolve()
            if not file.exists():
                raise AuthConfigError(f"auth.path: file {file} does not exist")
            spec = importlib.util.spec_from_file_location("agentserver_auth", file)
            module = importlib.util.module_from_spec(spec)
            sys.modules["agentserver_auth"] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
    except AuthConfigError:
        raise
    except Exception as exc:
        raise AuthConfigError(f"auth.path {path!r} failed to import: {exc}") from exc
    auth = getattr(module, attribute, None)
    if not isinstance(auth, Auth):
        raise AuthConfigError(f"auth.path {path!r} is not a langgraph_sdk.Auth instance")
    return CustomAuth(auth, path)


def custom_auth() -> CustomAuth | None:
    """The project's custom auth, when langgraph.json names one (loaded once)."""
    from apps.graphs.registry import registry

    project = registry().project
    path = (project.auth or {}).get("path")
    if not path:
        return None
    return _load(path, str(project.root))
