"""Signatures of webhook deliveries: HMAC-SHA256 over ``"{timestamp}.{body}"``.

The key is ``AGENTSERVER_WEBHOOK_SECRET``; unset, it is derived from ``SECRET_KEY`` as the hex
HMAC-SHA256 of ``SIGNING_KEY_LABEL`` under SECRET_KEY, which stays the same as long as
SECRET_KEY does (README, "Webhooks", tells receivers how to verify).
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

SIGNING_KEY_LABEL = b"agentserver webhook signing key"
TIMESTAMP_HEADER = "X-Agentserver-Timestamp"
SIGNATURE_HEADER = "X-Agentserver-Signature"
DELIVERY_HEADER = "X-Agentserver-Delivery"


def signing_key() -> bytes:
    configured = getattr(settings, "AGENTSERVER_WEBHOOK_SECRET", "")
    if configured:
        return configured.encode()
    derived = hmac.new(settings.SECRET_KEY.encode(), SIGNING_KEY_LABEL, hashlib.sha256)
    return derived.hexdigest().encode()


def signature(body: bytes, *, timestamp: str, key: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(body: bytes, *, delivery_id: str, timestamp: str) -> dict[str, str]:
    return {
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(body, timestamp=timestamp, key=signing_key()),
    }
