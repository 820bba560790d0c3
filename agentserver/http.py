"""uvicorn's HTTP protocol (httptools) plus one ASGI extension for fan-out of event streams.

A thread's event goes out to every SSE response that follows the thread, often hundreds.
Through ``http.response.body`` each response's task is woken for every event and hands it down
a chain of generators (the view's, Django's response, Django's handler) to the transport. The
extension ``agentserver.body`` (``apps.streams.protocol.BODY_EXTENSION``) lets the view write
the next part of its chunked body itself, without waiting, so that a batch can go to hundreds
of responses within one turn of the event loop. Everything else (parsing, headers, keep-alive,
flow control, the end of the body) is uvicorn's.
"""

from __future__ import annotations

import functools

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from apps.streams.protocol import BODY_EXTENSION


class FanOutHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # A request that upgrades (a websocket) has no cycle of its own; the app's task, just
        # created, has not run yet.
        if cycle is not None and cycle.scope is self.scope:
            write = functools.partial(write_body, cycle)
            self.scope.setdefault("extensions", {})[BODY_EXTENSION] = {"write": write}


def write_body(cycle: RequestResponseCycle, body: bytes) -> bool:
    """Write ``body`` as the next part of the chunked response ``cycle`` is streaming, as
    ``http.response.body`` with ``more_body`` would, without waiting: False, and nothing
    written, before the response has started or after it ended, when it is not chunked, when
    the client has left, or while the transport's buffer is full."""
    if (
        cycle.disconnected
        or not cycle.response_started
        or cycle.response_complete
        or not cycle.chunked_encoding
        or cycle.flow.write_paused
        or cycle.transport.is_closing()
    ):
        return False
    if body:  # an empty chunk would end the body
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
    return True
