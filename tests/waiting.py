"""Waiting on a condition with a deadline: the only way tests wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            result = condition()
        except Exception as exc:  # not ready yet (connection refused, ...)
            result, last_error = None, exc
        else:
            last_error = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last_error!r}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


async def eventually(condition, *, timeout: float = 30.0, what: str = "condition"):
    """``wait_for`` inside a coroutine: call ``condition()`` (awaiting it if it is a
    coroutine) until truthy, with a deadline; the event loop runs between tries."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
