from __future__ import annotations

import asyncio
import threading
import time

import pytest

from apps.core.errors import Unprocessable
from apps.streams.eventlog import EventLog
from apps.streams.sse import HEARTBEAT, frame, parse_last_event_id, tail, wait_for_end
from tests.streams.conftest import eventually

EVERY_KIND = [
    "metadata",
    "values",
    "values|child:1",
    "updates",
    "updates|child:1",
    "messages",
    "messages/metadata",
    "messages/partial",
    "messages/complete",
    "custom",
    "error",
    "feedback",
    "end",
]

WITH_MESSAGES = [
    "metadata",
    "messages",
    "messages/metadata",
    "messages/partial",
    "messages/complete",
    "error",
    "feedback",
    "end",
]


def write(log: EventLog, stream: str, *events: str) -> list[str]:
    return [log.append(stream, event, b'{"e":"%s"}' % event.encode()) for event in events]


async def collect(frames) -> list[bytes]:
    return [chunk async for chunk in frames]


def names(frames: list[bytes]) -> list[str]:
    return [chunk.split(b"\r\n")[0].removeprefix(b"event: ").decode() for chunk in frames]


def test_frame_is_event_data_id_and_a_blank_line_with_crlf():
    assert frame("values", b'{"a":1}', id="1724342400000-0") == (
        b'event: values\r\ndata: {"a":1}\r\nid: 1724342400000-0\r\n\r\n'
    )


def test_frame_without_id_has_no_id_line():
    assert frame("updates|child:1", b"[1,2]") == b"event: updates|child:1\r\ndata: [1,2]\r\n\r\n"


def test_frame_sends_null_for_empty_data():
    assert frame("end", b"") == b"event: end\r\ndata: null\r\n\r\n"
    assert frame("end", b" \n") == b"event: end\r\ndata: null\r\n\r\n"


def test_frame_keeps_multiline_json_on_one_data_line():
    assert frame("values", b'{\n  "a": 1\r\n}') == b'event: values\r\ndata: {   "a": 1  }\r\n\r\n'


def test_heartbeat_is_an_sse_comment():
    assert HEARTBEAT == b": heartbeat\r\n\r\n"


@pytest.mark.parametrize("value", [None, "", "  "])
def test_no_last_event_id_means_live_only(value):
    assert parse_last_event_id(value) is None


@pytest.mark.parametrize("value", ["-1", "-"])
def test_minus_one_and_dash_mean_from_the_beginning(value):
    assert parse_last_event_id(value) == "0"


def test_a_redis_shaped_last_event_id_is_kept():
    assert parse_last_event_id("1724342400000-3") == "1724342400000-3"


@pytest.mark.parametrize(
    "value", ["abc", "1724342400000", "1-2-3", "-5", "1-x", "1 -2", f"{2**64}-0", "\uff11-0"]
)
def test_a_malformed_last_event_id_is_a_422(value):
    with pytest.raises(Unprocessable) as raised:
        parse_last_event_id(value)
    assert raised.value.status_code == 422
    assert raised.value.detail.startswith("Invalid Last-Event-ID")


async def test_tail_yields_every_event_and_stops_after_end(log, stream):
    write(log, stream, "metadata", "values", "end", "values")
    frames = await collect(tail(stream, after="0", with_ids=False, log=log))
    assert frames == [
        b'event: metadata\r\ndata: {"e":"metadata"}\r\n\r\n',
        b'event: values\r\ndata: {"e":"values"}\r\n\r\n',
        b'event: end\r\ndata: {"e":"end"}\r\n\r\n',
    ]


async def test_tail_writes_ids_only_when_asked(log, stream):
    ids = write(log, stream, "metadata", "end")
    frames = await collect(tail(stream, after="0", with_ids=True, log=log))
    assert [chunk.split(b"\r\n")[2] for chunk in frames] == [f"id: {i}".encode() for i in ids]


async def test_tail_starts_after_the_given_id(log, stream):
    ids = write(log, stream, "metadata", "values", "updates", "end")
    frames = await collect(tail(stream, after=ids[1], with_ids=True, log=log))
    assert names(frames) == ["updates", "end"]


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        (None, EVERY_KIND),
        (set(), EVERY_KIND),
        ({"values"}, ["metadata", "values", "values|child:1", "error", "feedback", "end"]),
        (
            {"updates", "custom"},
            ["metadata", "updates", "updates|child:1", "custom", "error", "feedback", "end"],
        ),
        (
            {"messages-tuple"},
            WITH_MESSAGES,
        ),
        (
            {"messages"},
            WITH_MESSAGES,
        ),
    ],
)
async def test_tail_filters_events_by_stream_mode_like_join(log, stream, modes, expected):
    write(log, stream, *EVERY_KIND)
    frames = await collect(tail(stream, after="0", modes=modes, with_ids=False, log=log))
    assert names(frames) == expected


async def test_tail_sends_heartbeats_while_the_run_is_queued(log, stream):
    frames = tail(stream, after="0", with_ids=False, heartbeat=0.05, log=log)
    assert await anext(frames) == HEARTBEAT
    assert await anext(frames) == HEARTBEAT
    threading.Thread(target=write, args=(log, stream, "metadata")).start()
    chunk = await anext(frames)
    while chunk == HEARTBEAT:
        chunk = await anext(frames)
    assert names([chunk]) == ["metadata"]
    await frames.aclose()


async def test_tail_sends_heartbeats_while_every_event_is_filtered_out(log, stream):
    write(log, stream, *["updates"] * 20)
    frames = tail(stream, after="0", modes={"values"}, with_ids=False, heartbeat=0.05, log=log)
    assert await anext(frames) == HEARTBEAT
    await frames.aclose()


async def test_wait_for_end_returns_the_end_written_later_by_another_thread(
    log, stream, blocked_readers
):
    write(log, stream, "metadata", "values")
    baseline = blocked_readers(stream)
    waiter = asyncio.create_task(wait_for_end(stream, log=log))
    await eventually(lambda: blocked_readers(stream) > baseline, what="the waiter to block")
    written_at = time.monotonic()
    threading.Thread(target=write, args=(log, stream, "values", "end")).start()
    end = await asyncio.wait_for(waiter, timeout=5)
    assert time.monotonic() - written_at < 1.0
    assert (end.event, end.data) == ("end", b'{"e":"end"}')


async def test_wait_for_end_of_a_finished_run_returns_at_once(log, stream):
    ids = write(log, stream, "metadata", *["values"] * 3_000, "end")
    end = await asyncio.wait_for(wait_for_end(stream, log=log), timeout=5)
    assert end.id == ids[-1]
    assert (await wait_for_end(stream, after=ids[5], log=log)).id == ids[-1]
