"""agentserver's websocket server (uvicorn's protocol plus the frames extension), on loopback
with a real client: frames handed to the extension arrive as messages, in order with what
``websocket.send`` sends; a client that negotiated compression is not offered it; a closed
socket refuses frames as ``websocket.send`` does."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from agentserver.websocket import FanOutWebSocketProtocol
from apps.streams.protocol import FRAMES_EXTENSION
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
async def serving(app: App, *, compression: bool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        fd=listener.fileno(),
        ws=FanOutWebSocketProtocol,
        ws_per_message_deflate=compression,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    await eventually(lambda: server.started, what="the server to start")
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        listener.close()


async def test_frames_arrive_as_messages_in_order_with_what_websocket_send_sent():
    app = App()
    async with serving(app, compression=False) as url, connect(url, compression=None) as ws:
        await ws.send("go")
        received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)]
        await ws.send("go")
        again = [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)]

    assert received == again == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("closed_by", ["client", "server"])
async def test_a_closed_socket_refuses_frames(closed_by):
    app = App()
    async with serving(app, compression=False) as url:
        async with connect(url, compression=None) as ws:
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
        serving(app, compression=server_compresses) as url,
        connect(url, compression="deflate") as ws,
    ):
        await eventually(lambda: app.extensions, what="the app to accept")
        if offered:
            await ws.send("go")
            assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)] == list("abcde")

    assert (app.extensions[0] is not None) is offered
