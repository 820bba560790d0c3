"""The embedded default's in-process worker and beat: the same Celery tasks as production,
run by Celery worker threads on the in-memory transport, and the beat schedule on a thread."""

from __future__ import annotations

import logging
import threading
import time

from agentserver.celery import app, beat_schedule

logger = logging.getLogger("agentserver.embedded")


def start_worker(*, concurrency: int) -> None:
    """Start a Celery worker with ``concurrency`` threads inside this process."""
    app.loader.import_default_modules()
    worker = app.WorkController(
        app=app,
        concurrency=concurrency,
        pool="threads",
        hostname=f"embedded@{threading.get_native_id()}",
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name="agentserver-worker", daemon=True).start()


def start_beat(project) -> None:
    """Run the beat schedule's tasks on a daemon thread, each at its interval."""
    app.loader.import_default_modules()  # autodiscovery of tasks is lazy until a worker starts
    schedule = [
        (entry["task"], float(entry["schedule"])) for entry in beat_schedule(project).values()
    ]
    due = {task: time.monotonic() + interval for task, interval in schedule}
    clock = threading.Event()  # never set: its timed wait is the scheduler's clock

    def loop() -> None:
        while not clock.wait(max(0.0, min(due.values()) - time.monotonic()) if due else 60):
            now = time.monotonic()
            for task, interval in schedule:
                if due[task] <= now:
                    due[task] = now + interval
                    try:
                        app.tasks[task].apply()
                    except Exception:
                        logger.exception("periodic task %s failed", task)

    threading.Thread(target=loop, name="agentserver-beat", daemon=True).start()
