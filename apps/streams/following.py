"""Following a thread's protocol events: who may, and where a new subscription starts
(docs/thread-protocol.md §1.4, §4.3). Shared by the SSE view and the websocket consumer."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from apps.core.dbthreads import db_threads
from apps.streams.eventlog import EventLog, seq_id
from apps.tenancy.authorization import aauthorize
from apps.tenancy.principal import Principal
from apps.threads.models import Thread
from apps.threads.selectors import thread_get


class Start(NamedTuple):
    after: str  # read after this id
    gap: bool  # ``since`` is older than the oldest event kept: some are lost


async def readable_thread(principal: Principal, thread_id: uuid.UUID) -> Thread:
    """The thread, if ``principal`` may read it (the auth handler's ``threads`` ``read`` rule
    and its filters); NotFound otherwise."""
    scoped = await aauthorize(principal, "threads", "read", {"thread_id": thread_id})
    return await db_threads().arun(thread_get, principal=scoped, thread_id=thread_id)


async def start(log: EventLog, stream: str, since: int | None) -> Start:
    """Where a subscription starts: right after ``since``; without it (or when ``since`` is
    ahead of the thread, whose counter was lost), at the latest run's first event, or live
    when no run has written yet. A ``since`` older than what is kept starts at the oldest
    kept event and reports the gap."""
    info = await log.seq_info(stream)
    if since is not None and since <= info.last:
        if info.first and since < info.first - 1:
            return Start(seq_id(info.first - 1), True)
        if not info.first and since < info.last:  # every event after since has expired
            return Start(seq_id(info.last), True)
        return Start(seq_id(since), False)
    if info.run_start:
        return Start(seq_id(info.run_start - 1), False)
    return Start(seq_id(info.last), False)
