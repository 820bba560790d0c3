"""A server process's long-lived heap and CPython's garbage collector.

A process builds most of its objects while it starts (Django, DRF, Celery, LangGraph and
LangChain, the project's graphs: about 150,000 in the web process), and none of them ever
becomes garbage. CPython's full collection still traverses every one of them with the GIL
held, and it runs whenever the objects that survived earlier collections have grown by a
quarter. On bench/streams.py each full collection stopped the web process or the worker for
100-170 ms, and every socket's delivery with it. ``freeze_startup`` moves what is alive once
the process is ready into the collector's permanent generation, which no collection traverses,
so a full collection costs what the process made since it started, not its whole heap.
"""

from __future__ import annotations

import gc


def freeze_startup(*, collect: bool = True) -> None:
    """Once the process has imported and built what it will keep for its life: collect what
    starting left behind (``collect``), then exempt every object still alive from later
    collections (they are never freed: call this once, when the process is ready, not per
    request or task). A forked child passes ``collect=False``: a collection would touch, and
    so copy, every page it still shares with its parent."""
    if collect:
        gc.collect()
    gc.freeze()
