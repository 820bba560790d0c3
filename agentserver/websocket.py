"""uvicorn's websocket protocol plus one ASGI extension for fan-out.

A thread's event goes out to every socket that follows the thread, often hundreds. Through the
standard ``websocket.send`` each socket would frame the same text again and write each event
with a system call of its own. The extension ``agentserver.frames``
(``apps.streams.protocol.FRAMES_EXTENSION``) takes frames that the caller encoded once for every
socket, and writes all the frames of one delivery with a single write; its ``write`` does so
without waiting, so that a batch can go to hundreds of sockets within one turn of the event
loop instead of waking a task per socket.
Everything else (handshake, receiving, close, keepalive, backpressure) is uvicorn's.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from apps.streams.protocol import FRAMES_EXTENSION


class FanOutWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only a handshake handed to the app has one
        # With permessage-deflate negotiated the client expects compressed messages: those go
        # through ``websocket.send``, which compresses each for its socket.
        if scope is not None and not self.conn.extensions:
            extension = {"send": self.send_frames, "write": self.write_frames}
            scope["extensions"][FRAMES_EXTENSION] = extension

    async def send_frames(self, frames: bytes) -> None:
        """Write ``frames``: whole websocket frames from a server (unmasked, uncompressed,
        final), concatenated, as they are. Waits while the transport's buffer is full, as
        ``websocket.send`` does; ClientDisconnected (an OSError) once the socket is closing or
        closed."""
        if not self.writable.is_set():
            await self.writable.wait()
        self._write(frames)

    def write_frames(self, frames: bytes) -> bool:
        """``send_frames`` without waiting: False, and nothing written, while the transport's
        buffer is full."""
        if not self.writable.is_set():
            return False
        self._write(frames)
        return True

    def _write(self, frames: bytes) -> None:
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or self.transport.is_closing()
        ):
            raise ClientDisconnected()
        self.transport.write(frames)
