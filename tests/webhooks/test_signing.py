"""Deliveries are signed with HMAC-SHA256 over ``"{timestamp}.{body}"``, with
AGENTSERVER_WEBHOOK_SECRET or a key derived from SECRET_KEY, as the README documents."""

import hashlib
import hmac

from apps.webhooks.signing import signed_headers, signing_key

BODY = b'{"run_id":"r1","status":"success"}'


def test_the_signature_covers_the_timestamp_and_the_exact_body(settings):
    settings.AGENTSERVER_WEBHOOK_SECRET = "s3cret"

    headers = signed_headers(BODY, delivery_id="d1", timestamp="1700000000")

    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Agentserver-Delivery": "d1",
        "X-Agentserver-Timestamp": "1700000000",
        "X-Agentserver-Signature": f"sha256={expected}",
    }
    other = signed_headers(BODY + b" ", delivery_id="d1", timestamp="1700000000")
    assert other["X-Agentserver-Signature"] != headers["X-Agentserver-Signature"]


def test_without_a_secret_the_key_is_derived_from_secret_key(settings):
    settings.AGENTSERVER_WEBHOOK_SECRET = ""
    settings.SECRET_KEY = "the-django-secret"

    derived = hmac.new(b"the-django-secret", b"agentserver webhook signing key", hashlib.sha256)
    assert signing_key() == derived.hexdigest().encode()
    assert signing_key() == signing_key()  # stable while SECRET_KEY is
    settings.SECRET_KEY = "another-secret"
    assert signing_key() != derived.hexdigest().encode()
