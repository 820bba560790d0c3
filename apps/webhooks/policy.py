"""Which webhook URLs the server may call: the project's ``webhooks.url`` policy, and the
outbound-safety rules under it.

A URL must be absolute ``http``/``https`` and pass the policy's keys. Then its host is resolved
and EVERY address it resolves to is checked: loopback, private, link-local, shared, multicast,
reserved and unspecified addresses are refused unless they lie in a network the policy lists
in ``allowed_networks``; cloud metadata addresses are refused always. One refused address
refuses the URL, so a name with a public and a private address cannot slip through. The sender
connects to the addresses checked here (see sender.py), so DNS cannot change its answer
between the check and the connection.

Policy keys (``webhooks.url`` in langgraph.json), each optional:
- ``allowed_domains``: host names the URL may name, exact (``hooks.example.com``) or any
  subdomain (``*.corp.com``); when set, every other host is refused;
- ``allowed_networks``: CIDRs (``10.0.0.0/8``, ``127.0.0.1/32``) whose loopback or private
  addresses may be called; the only way to reach them;
- ``allowed_ports``: ports the URL may name (default port of its scheme included);
- ``require_https``: refuse ``http`` URLs;
- ``disable_loopback``: the reference server's switch for relative URLs that call back into
  the server in-process; relative URLs are always refused here, so the key changes nothing;
- ``max_url_length``: the longest URL accepted (default 2048).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from apps.core.errors import Unprocessable
from apps.graphs.config import ProjectError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_URL_LENGTH = 2048
# Cloud instance metadata services (AWS, GCP, Azure, OCI, DigitalOcean; ECS task metadata;
# AWS over IPv6; Alibaba Cloud). Never a webhook, whatever the policy allows.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


class UrlRefused(Unprocessable):
    """A webhook URL the server will not call; the message says why. A 422 at run creation, a
    failed delivery (not retried) at send time."""


class UrlUnresolvable(UrlRefused):
    """The URL's host does not resolve: refused at run creation, retried at send time (DNS may
    be down for a moment)."""


@dataclass(frozen=True)
class UrlPolicy:
    allowed_domains: tuple[str, ...] = ()
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_ports: tuple[int, ...] = ()
    require_https: bool = False
    max_url_length: int = DEFAULT_MAX_URL_LENGTH

    @classmethod
    def from_config(cls, webhooks: dict[str, Any] | None) -> UrlPolicy:
        """The policy of the project's ``webhooks`` section; ProjectError names a bad key."""
        raw = (webhooks or {}).get("url")
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ProjectError("'webhooks.url' must be an object")
        domains = _strings(raw, "allowed_domains")
        try:
            networks = tuple(
                ipaddress.ip_network(cidr, strict=False)
                for cidr in _strings(raw, "allowed_networks")
            )
        except ValueError as exc:
            raise ProjectError(f"'webhooks.url.allowed_networks': {exc}") from None
        ports = raw.get("allowed_ports") or []
        if not isinstance(ports, list) or not all(
            isinstance(port, int) and 0 < port < 65536 for port in ports
        ):
            raise ProjectError("'webhooks.url.allowed_ports' must be a list of port numbers")
        max_length = raw.get("max_url_length", DEFAULT_MAX_URL_LENGTH)
        if not isinstance(max_length, int) or max_length < 1:
            raise ProjectError("'webhooks.url.max_url_length' must be a positive integer")
        return cls(
            allowed_domains=tuple(domain.lower().rstrip(".") for domain in domains),
            allowed_networks=networks,
            allowed_ports=tuple(ports),
            require_https=bool(raw.get("require_https", False)),
            max_url_length=max_length,
        )


@dataclass(frozen=True)
class Target:
    """A URL the policy accepts, with the addresses it was checked at."""

    url: httpx.URL
    addresses: tuple[str, ...]


def url_check(url: str, *, policy: UrlPolicy, resolve: bool = True) -> Target:
    """``url`` as the server may call it, or UrlRefused naming what is wrong with it. The host
    is resolved and each of its addresses checked, unless ``resolve`` is False (the URL's
    shape and the policy's keys only)."""
    if len(url) > policy.max_url_length:
        raise UrlRefused(
            f"Webhook URL is longer than webhooks.url.max_url_length ({policy.max_url_length})"
        )
    if url.startswith("/"):
        raise UrlRefused(
            "Relative webhook URLs are not supported; give an absolute http:// or https:// URL"
        )
    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 - decoded lazily: a bad IDNA label raises here
    except (httpx.InvalidURL, UnicodeError) as exc:  # IDNA errors are UnicodeErrors
        raise UrlRefused(f"Invalid webhook URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"Webhook URL {url!r} must use http or https")
    if not parsed.host:
        raise UrlRefused(f"Webhook URL {url!r} names no host")
    if policy.require_https and parsed.scheme != "https":
        raise UrlRefused(f"Webhook URL {url!r} must use https (webhooks.url.require_https)")
    host = parsed.host.lower().rstrip(".")
    if policy.allowed_domains and not any(
        _domain_matches(host, pattern) for pattern in policy.allowed_domains
    ):
        raise UrlRefused(
            f"Webhook host {host!r} is not in webhooks.url.allowed_domains "
            f"({', '.join(policy.allowed_domains)})"
        )
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if policy.allowed_ports and port not in policy.allowed_ports:
        raise UrlRefused(
            f"Webhook port {port} is not in webhooks.url.allowed_ports "
            f"({', '.join(map(str, policy.allowed_ports))})"
        )
    addresses = _resolve(host, port) if resolve else ()
    for address in addresses:
        _check_address(url, ipaddress.ip_address(address), policy)
    return Target(url=parsed, addresses=addresses)


def _domain_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlUnresolvable(f"Webhook host {host!r} does not resolve: {exc}") from None
    # Scope ids (fe80::1%eth0) are dropped: the address is what the rules are about.
    addresses = dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos)
    if not addresses:
        raise UrlUnresolvable(f"Webhook host {host!r} does not resolve")
    return tuple(addresses)


def _check_address(url: str, address: IPAddress, policy: UrlPolicy) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address in METADATA_ADDRESSES:
        raise UrlRefused(f"Webhook URL {url!r} resolves to {address}, a cloud metadata address")
    kind = _forbidden_kind(address)
    if kind and not any(address in network for network in policy.allowed_networks):
        article = "an" if kind[0] in "aeiou" else "a"
        raise UrlRefused(
            f"Webhook URL {url!r} resolves to {address}, {article} {kind} address; list its "
            "network in webhooks.url.allowed_networks to allow it"
        )


def _forbidden_kind(address: IPAddress) -> str | None:
    """What makes ``address`` no place for a webhook by default, or None for a public one."""
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "non-public"  # shared address space (100.64.0.0/10) and the like
    return None


def _strings(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProjectError(f"'webhooks.url.{key}' must be a list of strings")
    return value
