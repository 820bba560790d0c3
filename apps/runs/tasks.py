"""Celery tasks of runs: ids in, one service call each."""

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

from celery import shared_task
from celery.signals import worker_process_init, worker_ready, worker_shutting_down

from agentserver.heap import freeze_startup
from apps.runs.executor import draining, execute_run
from apps.runs.services import runs_sweep


@shared_task(name="runs.execute", acks_late=True, reject_on_worker_lost=True)
def execute(run_id: str) -> str | None:
    """Claim and execute a run. Idempotent: a duplicate or late message finds the run claimed
    or finished and returns None; a redelivery after a crash resumes from the checkpoints."""
    with _drain_on_sigterm(), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(execute_run(run_id))


@shared_task(name="runs.sweep")
def sweep() -> dict[str, int]:
    """Re-dispatch runs whose worker was lost and pending runs whose message was lost."""
    return runs_sweep()


@worker_ready.connect
def _freeze_startup_heap(**_) -> None:
    # The worker is ready (with the threads or solo pool it runs the tasks itself): what it
    # built so far lives as long as it does, and full collections need not go over it.
    freeze_startup()


@worker_process_init.connect
def _freeze_child_heap(**_) -> None:
    # A prefork child: what it inherited lives as long as it does.
    freeze_startup(collect=False)


@worker_shutting_down.connect
def _drain_on_shutdown(**_) -> None:
    # Warm shutdown of a worker whose tasks run in its own process (threads pool): running
    # graphs stop at their next step and go back to the queue.
    draining.set()


def _loop_factory():
    """uvloop's event loop where it is installed (uvicorn[standard] brings it, except on
    Windows): a streaming run's loop turns once or more per token, and uvloop's turns cost the
    worker less CPU than asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@contextlib.contextmanager
def _drain_on_sigterm() -> Iterator[None]:
    """In a prefork pool process (the task runs on its main thread), SIGTERM to the process
    group means the worker is shutting down: drain instead of dying mid-step. Billiard resets
    the process's handlers at start, so the handler lives only while a run executes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: draining.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
