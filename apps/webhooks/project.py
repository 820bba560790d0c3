"""What the project file says about webhooks: the ``webhooks`` section of langgraph.json
(reference §12, §13) and ``http.disable_webhooks``. Read on every use, so a process that
replaces its project (tests, the CLI) sees the new one."""

from __future__ import annotations

import os
import re
from typing import Any

from apps.graphs.config import ProjectError
from apps.graphs.registry import registry
from apps.webhooks.policy import UrlPolicy

DEFAULT_ENV_PREFIX = "LG_WEBHOOK_"
ENV_TEMPLATE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _section() -> dict[str, Any]:
    return registry().project.webhooks or {}


def webhooks_disabled() -> bool:
    return bool((registry().project.http or {}).get("disable_webhooks"))


def url_policy() -> UrlPolicy:
    return UrlPolicy.from_config(_section())


def allowed_fields() -> list[str] | None:
    """The payload keys a delivery keeps (``webhooks.allowed_fields``), or None for all."""
    fields = _section().get("allowed_fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise ProjectError("'webhooks.allowed_fields' must be a list of strings")
    return fields


def configured_headers() -> dict[str, str]:
    """``webhooks.headers`` with each ``${{ env.NAME }}`` replaced by that variable, which must
    start with ``webhooks.env_prefix`` (so a project cannot send the server's own secrets, such
    as SECRET_KEY or DATABASE_URL, to a webhook URL). ProjectError names a bad header."""
    section = _section()
    prefix = section.get("env_prefix") or DEFAULT_ENV_PREFIX
    headers = section.get("headers") or {}
    if not isinstance(headers, dict):
        raise ProjectError("'webhooks.headers' must be an object")

    def substitute(name: str, match: re.Match) -> str:
        variable = match.group(1)
        if not variable.startswith(prefix):
            raise ProjectError(
                f"'webhooks.headers.{name}' reads {variable}, which does not start with "
                f"webhooks.env_prefix ({prefix})"
            )
        if variable not in os.environ:
            raise ProjectError(f"'webhooks.headers.{name}' reads {variable}, which is not set")
        return os.environ[variable]

    rendered = {}
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ProjectError(f"'webhooks.headers.{name}' must be a string")
        rendered[name] = ENV_TEMPLATE.sub(lambda match, name=name: substitute(name, match), value)
    return rendered


def checked() -> None:
    """Read the whole ``webhooks`` section once (ProjectError naming a bad key): the server
    refuses to start with it rather than fail each run that has a webhook."""
    url_policy()
    allowed_fields()
    configured_headers()
