"""agentserver's frames extension (agentserver/websocket.py) for in-process websocket tests: an
ASGI wrapper that offers it to the app and turns the frames it is given back into
``websocket.send`` messages for Channels' WebsocketCommunicator, checked by websockets' own
frame parser on the way. A test can fill the socket's buffer (``full``) and empty it again, and
see how frames went: ``at_once`` (``write``) or parked in ``send`` until there is room."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from apps.streams.protocol import FRAMES_EXTENSION


def texts(frames: bytes) -> list[str]:
    """The text of each whole frame a server wrote (unmasked, final, uncompressed)."""
    reader = StreamReader()
    reader.feed_data(frames)
    found = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as parsed:
            frame = parsed.value
        else:
            raise AssertionError(f"an incomplete frame: {bytes(reader.buffer)[:80]!r}")
        assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
        found.append(frame.data.decode())
    return found


class FramesServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.room = asyncio.Event()
        self.room.set()
        self.at_once = 0  # frames written by ``write``, without waiting
        self.parked = 0  # ``send`` calls waiting for room now

    @property
    def full(self) -> bool:
        return not self.room.is_set()

    @full.setter
    def full(self, value: bool) -> None:
        if value:
            self.room.clear()
        else:
            self.room.set()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # The communicator's send is its output queue's put: frames written without waiting
        # must land there at once, in order with what the app awaits.
        output: asyncio.Queue = send.__self__
        assert isinstance(output, asyncio.Queue)

        def put(frames: bytes) -> None:
            for text in texts(frames):
                output.put_nowait({"type": "websocket.send", "text": text})

        def write(frames: bytes) -> bool:
            if self.full:
                return False
            put(frames)
            self.at_once += 1
            return True

        async def send_frames(frames: bytes) -> None:
            self.parked += 1
            try:
                await self.room.wait()
            finally:
                self.parked -= 1
            put(frames)

        extension = {"send": send_frames, "write": write}
        extensions = {**scope.get("extensions", {}), FRAMES_EXTENSION: extension}
        await self.app({**scope, "extensions": extensions}, receive, send)
