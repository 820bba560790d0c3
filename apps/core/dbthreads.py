"""A small pool of long-lived threads that own the ORM connections of the LangGraph adapters.

LangGraph calls a checkpointer and a store from short-lived executor threads (a new thread pool
per ``invoke``) and from event loops. Django connections are per thread, so running the ORM on
those threads would open a fresh database connection per invoke and leave it to the garbage
collector. Instead, every adapter call is handed to one of these threads, whose connection
persists. The pool is one thread on SQLite (one writer at a time, no lock errors) and
``AGENTSERVER_DB_THREADS`` threads on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.utils import InterfaceError, OperationalError

T = TypeVar("T")
_STOP = object()


class DatabaseThreads:
    """Runs callables on dedicated threads that keep their database connection between calls.

    A job goes to the most recently idle thread (a stack, not a queue), so a sequence of calls
    keeps using one warm connection and the other threads only wake under concurrency.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []  # inboxes of idle threads, most recent last
        self._backlog: deque = deque()  # jobs waiting for any thread
        self._threads: list[threading.Thread] = []
        self._local = threading.local()

    def _start(self) -> None:
        # Called with the lock held. Every thread starts parked on its inbox, thread 0 on top.
        for index in reversed(range(self.size)):
            inbox: queue.SimpleQueue = queue.SimpleQueue()
            self._idle.append(inbox)
            thread = threading.Thread(
                target=self._work, args=(inbox,), name=f"agentserver-db-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self, inbox: queue.SimpleQueue) -> None:
        self._local.inside = True
        close_old_connections()
        job = inbox.get()
        while job is not _STOP:
            self._run(job)
            # Take waiting work first; only a thread with nothing waiting parks itself again.
            with self._lock:
                job = self._backlog.popleft() if self._backlog else None
                if job is None:
                    self._idle.append(inbox)
            if job is None:
                job = inbox.get()
        connection.close()

    def _run(self, job: tuple) -> None:
        future, fn, args, kwargs = job
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._call(fn, args, kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    @staticmethod
    def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        try:
            return fn(*args, **kwargs)
        except (InterfaceError, OperationalError):
            # A connection the server closed (restart, idle timeout) fails on first use; the
            # adapters' writes are idempotent upserts, so one retry on a fresh connection is safe.
            if connection.in_atomic_block or connection.is_usable():
                raise
            connection.close()
            return fn(*args, **kwargs)

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._dispatch((future, fn, args, kwargs))
        return future

    def _dispatch(self, job: Any) -> None:
        with self._lock:
            if not self._threads:
                self._start()
            if self._idle:
                self._idle.pop().put(job)
            else:
                self._backlog.append(job)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` on a database thread and wait; inline when already on one."""
        if getattr(self._local, "inside", False):
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    async def arun(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if getattr(self._local, "inside", False):
            return fn(*args, **kwargs)
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the threads and close their connections (tests, before dropping a database)."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._dispatch(_STOP)  # each thread takes exactly one and exits
        for thread in threads:
            thread.join()
        with self._lock:
            self._threads.clear()
            self._idle.clear()


_pool: DatabaseThreads | None = None
_pool_lock = threading.Lock()


def db_threads() -> DatabaseThreads:
    """The process-wide pool, sized for the configured database."""
    global _pool
    with _pool_lock:
        if _pool is None:
            postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
            _pool = DatabaseThreads(settings.AGENTSERVER_DB_THREADS if postgres else 1)
        return _pool
