"""The thread's SSE stream (``POST /threads/{id}/stream/events``) served by agentserver's own
HTTP protocol, in process on loopback: live batches go out through the body extension, in
order after the replay, and a stream whose filter drops every event still gets heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from agentserver.asgi import application
from apps.streams import views
from apps.streams.protocol import BODY_EXTENSION
from tests.streams.test_fanout_protocol import serving
from tests.streams.threads import started, token, write

pytestmark = pytest.mark.django_db(transaction=True)


class CountingWrites:
    """The application, with the body extension's writes counted."""

    def __init__(self) -> None:
        self.written = 0

    async def __call__(self, scope, receive, send) -> None:
        extension = scope.get("extensions", {}).get(BODY_EXTENSION)
        if extension is not None:
            write = extension["write"]

            def counted(body: bytes) -> bool:
                done = write(body)
                self.written += done
                return done

            scope["extensions"][BODY_EXTENSION] = {"write": counted}
        await application(scope, receive, send)


@contextlib.asynccontextmanager
async def following(thread_id: str, channels: list[str]):
    app = CountingWrites()
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
        path = f"/threads/{thread_id}/stream/events"
        async with client.stream("POST", path, json={"channels": channels}) as response:
            lines = response.aiter_lines()
            assert await asyncio.wait_for(anext(lines), 5) == ": connected"
            yield app, lines


async def data_lines(lines, count: int) -> list[str]:
    found = []
    while len(found) < count:
        line = await asyncio.wait_for(anext(lines), 5)
        if line.startswith("data: "):
            found.append(line)
    return found


async def test_live_events_go_out_through_the_body_extension_in_order(thread_id):
    write(thread_id, started(), token("a"), run_start=True)
    async with following(thread_id, ["messages"]) as (app, lines):
        replayed, live = await data_lines(lines, 1), []
        for text in "bcd":
            write(thread_id, token(text))
            live += await data_lines(lines, 1)

    texts = [line.split('"text":"')[1][0] for line in replayed + live]
    assert texts == ["a", "b", "c", "d"]
    assert app.written >= 2  # the first live batch may come before the stream follows


async def test_a_stream_whose_filter_drops_every_event_still_gets_heartbeats(
    thread_id,
    monkeypatch,
):
    monkeypatch.setattr(views, "HEARTBEAT_SECONDS", 0.2)
    heartbeat = asyncio.Event()

    async def read(lines) -> None:
        async for line in lines:
            if line == ": heartbeat":
                heartbeat.set()

    async with following(thread_id, ["lifecycle"]) as (_, lines):
        reader = asyncio.ensure_future(read(lines))
        deadline = time.monotonic() + 5
        while not heartbeat.is_set() and time.monotonic() < deadline:
            write(thread_id, token("x"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heartbeat.wait(), 0.05)
        reader.cancel()

    assert heartbeat.is_set(), "no heartbeat while filtered-out events kept coming"
