"""Verbs on runs: create (with the multitask strategy), claim, heartbeat, finish, release,
cancel, delete, and dispatch to the workers.

Invariants, each kept by the database rather than by Python checks:
- at most one ``running`` run per thread (partial unique index);
- a run is claimed by one conditional UPDATE that bumps ``attempt``; every later write of that
  worker carries the attempt it claimed (the fencing token) and touches nothing otherwise;
- runs on a thread are claimed in ``created_at`` order: a run is claimable only when no earlier
  run of its thread is pending and none is running.
"""

from apps.graphs.services import UNSET
from apps.runs.services.cancelling import run_cancel, run_delete, runs_cancel_many
from apps.runs.services.creating import BUSY_DETAIL, run_create
from apps.runs.services.executing import (
    run_cancel_requested,
    run_claim,
    run_finish,
    run_heartbeat,
    run_release,
)
from apps.runs.services.queue import lease_seconds, max_attempts, run_dispatch, thread_dispatch_next
from apps.runs.services.recovering import runs_sweep

__all__ = [
    "BUSY_DETAIL",
    "UNSET",
    "lease_seconds",
    "max_attempts",
    "run_cancel",
    "run_cancel_requested",
    "run_claim",
    "run_create",
    "run_delete",
    "run_dispatch",
    "run_finish",
    "run_heartbeat",
    "run_release",
    "runs_cancel_many",
    "runs_sweep",
    "thread_dispatch_next",
]
