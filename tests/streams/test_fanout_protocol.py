"""agentserver's server protocols (uvicorn's plus the fan-out extensions), on loopback with
real clients. Websocket: frames handed to the extension arrive as messages, in order with what
``websocket.send`` sends; a client that negotiated compression is not offered it; a closed
socket refuses frames as ``websocket.send`` does. HTTP: a part written through the body
extension arrives in order with what ``http.response.body`` sends, on every request of a
kept-alive connection; it is refused before the response starts, after it ends, and for a
body of fixed length."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest
import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from agentserver.http import FanOutHttpToolsProtocol
from agentserver.websocket import FanOutWebSocketProtocol
from apps.streams.protocol import BODY_EXTENSION, FRAMES_EXTENSION
from tests.waiting import eventually


def frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class App:
    """Accepts, then answers each message ``go`` with ``a`` (websocket.send), ``b`` and ``c``
    (one call of the extension's ``send``), ``d`` (its ``write``) and ``e`` (websocket.send),
    and ``close`` by closing; keeps what it was offered and which of the extension's calls
    still wrote once the socket was closed (by either side)."""

    def __init__(self) -> None:
        self.extensions: list[dict] = []
        self.after_close: list[str] = []
        self.finished = False

    async def __call__(self, scope, receive, send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        frames = scope["extensions"].get(FRAMES_EXTENSION)
        self.extensions.append(frames)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 1000})
                break
            await send({"type": "websocket.send", "text": "a"})
            await frames["send"](frame("b") + frame("c"))
            assert frames["write"](frame("d")) is True
            await send({"type": "websocket.send", "text": "e"})
        if frames is not None:
            for name, call in (("send", frames["send"]), ("write", frames["write"])):
                with contextlib.suppress(ClientDisconnected):
                    result = call(frame("late"))
                    if asyncio.iscoroutine(result):
                        await result
                    self.after_close.append(name)
        self.finished = True


@contextlib.asynccontextmanager
async def serving(app, *, compression: bool = False):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        fd=listener.fileno(),
        http=FanOutHttpToolsProtocol,
        ws=FanOutWebSocketProtocol,
        ws_per_message_deflate=compression,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    await eventually(lambda: server.started, what="the server to start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        listener.close()


async def test_frames_arrive_as_messages_in_order_with_what_websocket_send_sent():
    app = App()
    async with serving(app) as host, connect(f"ws://{host}/", compression=None) as ws:
        await ws.send("go")
        received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)]
        await ws.send("go")
        again = [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)]

    assert received == again == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("closed_by", ["client", "server"])
async def test_a_closed_socket_refuses_frames(closed_by):
    app = App()
    async with serving(app) as host:
        async with connect(f"ws://{host}/", compression=None) as ws:
            await ws.send("go")
            for _ in range(5):
                await asyncio.wait_for(ws.recv(), 5)
            if closed_by == "server":
                await ws.send("close")
                await eventually(lambda: app.finished, what="the app to close and try")
        await eventually(lambda: app.finished, what="the app to try after the close")

    assert app.after_close == []


@pytest.mark.parametrize(("server_compresses", "offered"), [(True, False), (False, True)])
async def test_the_extension_is_offered_only_to_uncompressed_sockets(server_compresses, offered):
    app = App()
    async with (
        serving(app, compression=server_compresses) as host,
        connect(f"ws://{host}/", compression="deflate") as ws,
    ):
        await eventually(lambda: app.extensions, what="the app to accept")
        if offered:
            await ws.send("go")
            assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)] == list("abcde")

    assert (app.extensions[0] is not None) is offered


class BodyApp:
    """Streams ``a`` (http.response.body), ``b`` (the extension's write) and ``c``
    (http.response.body), then ends the body; on ``/fixed``, a body of one byte. Keeps what
    each write answered: before the response starts, during it and after it ended."""

    def __init__(self) -> None:
        self.written: list[list[bool]] = []

    async def __call__(self, scope, receive, send) -> None:
        write = scope["extensions"][BODY_EXTENSION]["write"]
        written = [write(b"early")]
        self.written.append(written)
        if scope["path"] == "/fixed":
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-length", b"1")]})
            written.append(write(b"x"))
            await send({"type": "http.response.body", "body": b"y"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        written.append(write(b"b"))
        await send({"type": "http.response.body", "body": b"c", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        written.append(write(b"late"))


async def test_a_written_part_arrives_in_order_with_the_body_on_each_kept_alive_request():
    app = BodyApp()
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
        bodies = [(await client.get("/stream")).content for _ in range(2)]

    assert bodies == [b"abc", b"abc"]
    assert app.written == [[False, True, False], [False, True, False]]


async def test_a_body_of_fixed_length_refuses_written_parts():
    app = BodyApp()
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
        body = (await client.get("/fixed")).content

    assert body == b"y"
    assert app.written == [[False, False]]
