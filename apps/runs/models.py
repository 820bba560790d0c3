"""Runs: one execution of an assistant's graph on a thread, claimed by a worker with a lease.

The database is the coordination point. A worker owns a run through a conditional UPDATE that
bumps ``attempt``; every later write of that worker is conditional on the same ``attempt``
(the fencing token), and at most one run per thread can be ``running`` (a partial unique
index), whatever the workers believe.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from langgraph.checkpoint.base.id import uuid6

from apps.core.models import TimestampedModel
from apps.tenancy.models import Tenant
from apps.tenancy.scoping import TenantQuerySet
from apps.threads.models import Thread


class RunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)


class MultitaskStrategy(models.TextChoices):
    REJECT = "reject"
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"
    ROLLBACK = "rollback"


class CancelAction(models.TextChoices):
    INTERRUPT = "interrupt"
    ROLLBACK = "rollback"


class RunQuerySet(TenantQuerySet):
    # Runs belong to their thread: auth filters (resource "threads") match its metadata.
    filtered_metadata = "thread__metadata"

    def active(self) -> RunQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def for_thread(self, thread_id) -> RunQuerySet:
        return self.filter(thread_id=thread_id)


class Run(TimestampedModel):
    run_id = models.UUIDField(primary_key=True, default=uuid6)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="runs")
    owner = models.CharField(max_length=255, blank=True, default="")
    # The principal the run acts for (Principal.to_json): its graph sees it as
    # langgraph_auth_user, and its store is its tenant's.
    principal = models.JSONField(default=dict)
    assistant_id = models.UUIDField(db_index=True)
    graph_id = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True
    )
    metadata = models.JSONField(default=dict)
    kwargs = models.JSONField(default=dict)
    multitask_strategy = models.CharField(
        max_length=16, choices=MultitaskStrategy.choices, default=MultitaskStrategy.ENQUEUE
    )
    # Stateless runs: delete the temporary thread when the run ends.
    temporary = models.BooleanField(default=False)
    # Queue order and delay (after_seconds): a run is not claimed before this time.
    available_at = models.DateTimeField(db_index=True)
    attempt = models.PositiveIntegerField(default=0)
    # Attempts given back by a worker shutting down (run_release): they do not count against
    # AGENTSERVER_RUN_MAX_ATTEMPTS, which limits attempts lost to crashes.
    releases = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=255, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cancel_action = models.CharField(
        max_length=16, choices=CancelAction.choices, null=True, blank=True
    )
    # The body /wait and /join answer with: final values, {"__interrupt__": ...} or
    # {"__error__": ...}; kept here so a join after the event log expired still answers.
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["thread", "status", "available_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["thread"],
                condition=Q(status="running"),
                name="one_running_run_per_thread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status not in ACTIVE_STATUSES
