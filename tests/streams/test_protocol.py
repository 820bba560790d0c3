"""The protocol's wire forms: subscription filters agree with langgraph-sdk's own matching,
envelopes are what the clients parse, and bad bodies and frames are refused with a reason."""

from __future__ import annotations

import uuid

import orjson
import pytest
from langgraph_sdk.stream.subscription import matches_subscription

from apps.streams import protocol
from apps.streams.eventlog import Event

EVENTS = [
    ("values", [], {}),
    ("messages", [], {"event": "message-start"}),
    ("messages", ["researcher:1"], {"event": "message-start"}),
    ("messages", ["researcher:1", "tools:2"], {"event": "message-start"}),
    ("lifecycle", ["researcher:1"], {"event": "started"}),
    ("input.requested", [], {"interrupt_id": "i"}),
    ("custom", [], {"name": "progress", "payload": 1}),
    ("custom", [], {"payload": 2}),
    ("tools", ["other:3"], {"event": "tool-started"}),
]
FILTERS = [
    {"channels": ["messages"]},
    {"channels": ["messages"], "namespaces": [[]], "depth": 0},
    {"channels": ["messages", "lifecycle"], "namespaces": [["researcher"]]},
    {"channels": ["messages"], "namespaces": [["researcher:1"]], "depth": 0},
    {"channels": ["messages"], "namespaces": [["researcher:9"]]},
    {"channels": ["input"]},
    {"channels": ["custom"]},
    {"channels": ["custom:progress"]},
    {"channels": ["tools", "values"], "namespaces": [[], ["other"]], "depth": 1},
]


def stored(method: str, namespace: list[str], data: dict) -> Event:
    key, params = protocol.stored_event(method, namespace, data)
    return Event("7-0", key, params)


@pytest.mark.parametrize("definition", FILTERS, ids=[orjson.dumps(f).decode() for f in FILTERS])
def test_subscriptions_match_exactly_what_the_sdk_would_deliver(definition):
    subscription = protocol.subscription(definition)
    for method, namespace, data in EVENTS:
        event = orjson.loads(protocol.envelope(stored(method, namespace, data)))
        expected = matches_subscription(event, definition)
        got = subscription.matches(stored(method, namespace, data).event)
        assert got == expected, (method, namespace, data)


def test_depth_without_namespaces_counts_from_the_root():
    subscription = protocol.subscription({"channels": ["messages"], "depth": 1})
    assert subscription.matches("messages|a:1")
    assert not subscription.matches("messages|a:1|b:2")


def test_an_envelope_carries_the_stored_number_and_method():
    event = stored("input.requested", ["a:1"], {"interrupt_id": "i", "value": 1})
    envelope = orjson.loads(protocol.envelope(event))

    assert envelope["type"] == "event"
    assert (envelope["event_id"], envelope["seq"]) == ("7-0", 7)
    assert envelope["method"] == "input.requested"
    assert envelope["params"]["namespace"] == ["a:1"]
    assert envelope["params"]["data"] == {"interrupt_id": "i", "value": 1}
    assert isinstance(envelope["params"]["timestamp"], int)


def test_an_sse_frame_names_the_method_and_the_sequence_number():
    frame = protocol.sse_frame(stored("custom", [], {"name": "progress", "payload": 1}))
    lines = frame.decode().split("\r\n")

    assert lines[0] == "event: custom"
    assert orjson.loads(lines[1].removeprefix("data: "))["seq"] == 7
    assert lines[2] == "id: 7" and frame.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "JSON object"),
        ({}, "channels"),
        ({"channels": []}, "channels"),
        ({"channels": ["nope"]}, "Unknown channel"),
        ({"channels": ["custom:"]}, "Unknown channel"),
        ({"channels": [1]}, "Unknown channel"),
        ({"channels": ["values"], "namespaces": ["a"]}, "namespaces"),
        ({"channels": ["values"], "depth": -1}, "depth"),
        ({"channels": ["values"], "since": "3"}, "since"),
        ({"channels": ["values"], "since": True}, "since"),
        ({"channels": ["values"], "filter": 1}, "Unknown subscription field"),
    ],
)
def test_a_bad_subscription_is_refused_with_a_reason(body, reason):
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.subscription(body)


@pytest.mark.parametrize(
    ("frame", "reason", "id"),
    [
        ("text", "JSON object", None),
        ({"method": "run.start"}, "integer id", None),
        ({"id": -1, "method": "run.start"}, "integer id", None),
        ({"id": 2, "method": ""}, "method", 2),
        ({"id": 2, "method": "run.start", "params": 3}, "params", 2),
        ({"id": 2, "method": "run.start", "extra": 3}, "Unknown command field", 2),
    ],
)
def test_a_bad_command_frame_is_refused_naming_its_id_when_it_has_one(frame, reason, id):
    with pytest.raises(protocol.ProtocolError, match=reason) as refused:
        protocol.command(frame)
    assert refused.value.id == id


# --- over HTTP --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b'{"channels": ["nope"]}', 400), (b'{"channels": ["values"]}', 404)],
)
def test_an_event_stream_request_is_checked_before_it_streams(api, body, status):
    response = api.post(
        f"/threads/{uuid.uuid4()}/stream/events", body, content_type="application/json"
    )
    assert response.status_code == status
    assert "detail" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "id"),
    [(b"{", None), (b'{"id": 4, "method": 5}', 4), (b"[]", None)],
)
def test_a_body_that_is_no_command_is_a_400_with_an_error_envelope(api, body, id):
    response = api.post(f"/threads/{uuid.uuid4()}/commands", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["type"] == "error" and response.json()["id"] == id
    assert response.json()["error"] == "invalid_argument"


@pytest.mark.django_db
def test_an_unknown_command_is_an_error_envelope_in_a_200(api):
    body = {"id": 3, "method": "state.fork", "params": {}}
    response = api.post(f"/threads/{uuid.uuid4()}/commands", body, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "type": "error",
        "id": 3,
        "error": "unknown_command",
        "message": "Unknown command 'state.fork'",
    }
