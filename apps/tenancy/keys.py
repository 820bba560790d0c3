"""API key text: ``as_<prefix>_<secret>``. The prefix (12 hex digits) finds the key's row; the
SHA-256 digest of the whole key proves it. Keys carry 256 bits of randomness, so a fast hash
is the right one (a slow password hash would only cost every request)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PATTERN = re.compile(r"as_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
MAX_KEY_LENGTH = 64


def new_key() -> tuple[str, str, str]:
    """A fresh key: ``(key, prefix, digest)``."""
    prefix = secrets.token_hex(6)
    key = f"as_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, digest_of(key)


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str | None:
    """The key's prefix, or None when ``key`` is not shaped like one of our keys."""
    match = KEY_PATTERN.fullmatch(key)
    return match.group(1) if match else None


def digest_matches(key: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(key), digest)
