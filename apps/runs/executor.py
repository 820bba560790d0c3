"""Executes one claimed run: the graph with the Django checkpointer and store, its stream into
the run's event log, a lease heartbeat, cancellation, and the final record.

One attempt of a run goes: claim (compare-and-set; nothing to do if it fails) → ``metadata``
event → ``graph.astream`` → ``error`` event if it raised → the run and thread are settled
(conditional on the attempt, so a stalled worker cannot overwrite its replacement) → ``end``
event. A cancel stops the graph at once (within the 0.5 s poll); a worker shutdown lets the
current step finish and stops at the step boundary. Either way the checkpoints of finished
steps stay, so a later attempt resumes where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from langgraph.types import Command, Send

from apps.core.dbthreads import db_threads
from apps.core.encoding import dumps, to_jsonable
from apps.graphs.registry import registry
from apps.runs import services
from apps.runs.events import ChunkTranslator, error_payload, graph_modes, run_end_entries
from apps.runs.models import MultitaskStrategy, Run, RunStatus
from apps.runs.protocol import ProtocolTranslator, error_text, root_lifecycle
from apps.runs.writer import Writer
from apps.streams.eventlog import event_log, event_ttl_seconds
from apps.streams.names import run_stream, thread_events_stream, thread_stream
from apps.streams.protocol import stored_event
from apps.tenancy.customauth import AuthUser
from apps.tenancy.principal import Principal
from apps.threads.state import checkpointer, interrupts_by_task

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Set when the worker is shutting down: running graphs stop at their next step and their runs
# go back to the queue for another worker.
draining = threading.Event()


def run_timeout_seconds() -> float:
    return float(getattr(settings, "AGENTSERVER_RUN_TIMEOUT_SECONDS", 86400))


# LangGraph stream modes every run on a kept thread streams, for its protocol events.
PROTOCOL_MODES = ("values", "updates", "messages", "tools", "tasks", "checkpoints", "custom")


class StepBoundary(Exception):
    """Raised between two steps to stop a draining run where its last step is checkpointed."""


@dataclass
class Outcome:
    status: str
    output: Any
    error: dict[str, str] | None = None
    release: bool = False  # give the run back to the queue instead of finishing it


async def execute_run(run_id: uuid.UUID | str) -> str | None:
    """Claim and execute the run; returns its final status, or None if this worker did not
    finish it (not claimed: someone else has it, it was cancelled, or it is not its turn;
    released at shutdown; or its lease was taken over)."""
    run_id = uuid.UUID(str(run_id))
    run = await db_threads().arun(services.run_claim, run_id=run_id, worker=WORKER_ID)
    if run is None:
        return None
    attempt = Attempt(run)
    try:
        return await attempt.execute()
    finally:
        attempt.writer.close()


class Attempt:
    """One attempt of one run."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.kwargs = run.kwargs
        self.streams = (run_stream(run.run_id), thread_stream(run.thread_id))
        self.translator = ChunkTranslator(self.kwargs.get("stream_mode") or ["values"], self.emit)
        # A run on a kept thread also writes the thread's protocol events (thread-centric
        # streams follow every run of the thread, however it was started).
        self.protocol = (
            None if self.kwargs.get("temporary") else ProtocolTranslator(self.emit_protocol)
        )
        events_stream = thread_events_stream(run.tenant_id, run.thread_id)
        self.writer = Writer(event_log(), self.streams, events_stream)
        self._legacy: list[tuple[str, bytes]] = []
        self._numbered: list[tuple[str, bytes]] = []
        self.stop_reason: str | None = None
        self.graph = None
        self.principal = run_principal(run)
        self.pending_interrupts: dict[str, list[Any]] = {}
        self.paused = False  # the thread waits at a breakpoint or an interrupt
        self.last_checkpoint: dict[str, Any] | None = None  # the root's, as streamed

    def emit(self, event: str, data: Any) -> None:
        """A legacy SSE event for the run's and the thread's streams (queued at ``flush``)."""
        self._legacy.append((event, dumps(data)))

    def emit_protocol(
        self, method: str, namespace: list[str], data: Any, node: str | None = None
    ) -> None:
        """A protocol event for the thread's numbered stream (queued at ``flush``)."""
        self._numbered.append(stored_event(method, namespace, data, node))

    def flush(self, *, run_start: int | None = None) -> None:
        """Hand what was emitted since the last flush to the writer (which writes it in order,
        one batch per turn of the event loop)."""
        if self._legacy or self._numbered:
            self.writer.add(self._legacy, self._numbered, run_start=run_start)
            self._legacy, self._numbered = [], []

    async def execute(self) -> str | None:
        run = self.run
        self.emit("metadata", {"run_id": str(run.run_id), "attempt": run.attempt})
        if self.protocol is not None:
            self._lifecycle("started", graph_name=run.graph_id, attempt=run.attempt)
        self.flush(run_start=0)
        graph_task = asyncio.ensure_future(self._run_graph())
        watcher = asyncio.ensure_future(self._watch(graph_task))
        try:
            outcome = await self._outcome(graph_task)
        finally:
            watcher.cancel()
        if outcome.release:
            if self.protocol is not None:
                self.protocol.close(error="The run stopped and will resume elsewhere")
            self.flush()
            await self.writer.drain()
            if self.stop_reason == "shutdown":
                await db_threads().arun(
                    services.run_release, run_id=run.run_id, attempt=run.attempt
                )
                logger.info("run %s attempt %s released at shutdown", run.run_id, run.attempt)
            else:
                logger.warning("run %s attempt %s lost its lease", run.run_id, run.attempt)
            return None
        if outcome.error is not None:
            self.emit("error", outcome.error)
        if self.protocol is not None:
            failed = outcome.status != RunStatus.SUCCESS
            self.protocol.close(error=_failure(outcome) if failed else None)
        self.flush()
        await self.writer.drain()
        if not await self._settle(outcome):
            # Fenced out: another attempt owns the run now and records its end.
            logger.warning("run %s attempt %s lost its lease", run.run_id, run.attempt)
            return None
        return outcome.status

    def _announce(self, outcome: Outcome) -> None:
        """The run's last events, written once its end is committed and before the thread's
        next run is dispatched (run_finish calls this on a database thread): the protocol's
        terminal events, the /wait body, the run stream's end and the thread's run_done, in
        one round trip."""
        if self.protocol is not None:
            self._terminal(outcome)
        run_id = str(self.run.run_id)
        legacy, numbered, self._legacy, self._numbered = self._legacy, self._numbered, [], []
        tail = run_end_entries(run_id, str(self.run.thread_id), outcome.status, outcome.output)
        self.writer.write_last(legacy, numbered, tail=tail, expire=event_ttl_seconds())

    def _lifecycle(self, event: str, **data: Any) -> None:
        self.emit_protocol("lifecycle", [], root_lifecycle(event, str(self.run.run_id), **data))

    def _terminal(self, outcome: Outcome) -> None:
        """The root's last protocol events: the pending interrupts and ``interrupted``, or
        ``completed``, or ``failed`` (an error, or a cancel); a run replaced by a newer one
        (``interrupt`` / ``rollback`` strategy) is ``interrupted``, superseded."""
        if outcome.status == RunStatus.SUCCESS:
            if not self.paused:
                self._lifecycle("completed")
                return
            seen = {item["interrupt_id"]: item["namespace"] for item in self.protocol.interrupts}
            for items in self.pending_interrupts.values():
                for item in items:
                    interrupt_id, value = item.get("id"), item.get("value")
                    self.emit_protocol(
                        "input.requested",
                        seen.get(interrupt_id, []),
                        {"interrupt_id": interrupt_id, "payload": value, "value": value},
                    )
            self._lifecycle("interrupted")
        elif outcome.status == RunStatus.INTERRUPTED and self._superseded():
            self._lifecycle("interrupted", reason="superseded")
        else:
            cancelled = outcome.status == RunStatus.INTERRUPTED
            reason = "cancelled" if cancelled else str(outcome.status)
            self._lifecycle("failed", error=_failure(outcome), reason=reason)

    def _superseded(self) -> bool:
        run = self.run
        return Run.objects.filter(
            thread_id=run.thread_id,
            created_at__gt=run.created_at,
            multitask_strategy__in=(MultitaskStrategy.INTERRUPT, MultitaskStrategy.ROLLBACK),
        ).exists()

    async def _outcome(self, graph_task: asyncio.Future) -> Outcome:
        try:
            await asyncio.wait_for(asyncio.shield(graph_task), timeout=run_timeout_seconds())
        except TimeoutError:
            graph_task.cancel()
            await asyncio.gather(graph_task, return_exceptions=True)
            error = {"error": "TimeoutError", "message": "The run exceeded its time limit"}
            return Outcome(RunStatus.TIMEOUT, {"__error__": error}, error)
        except StepBoundary:
            return Outcome(RunStatus.PENDING, None, release=True)
        except asyncio.CancelledError:
            # Our watcher cancelled the graph (see _stop); anything else cancelling us is the
            # process going away, and the lease will bring the run back.
            if self.stop_reason is None:
                raise
            if self.stop_reason in ("shutdown", "lost"):
                return Outcome(RunStatus.PENDING, None, release=True)
            return Outcome(RunStatus.INTERRUPTED, self.translator.output())
        except Exception as exc:
            logger.exception("run %s failed", self.run.run_id)
            error = error_payload(exc)
            return Outcome(RunStatus.ERROR, {"__error__": error}, error)
        return Outcome(RunStatus.SUCCESS, self.translator.output())

    async def _run_graph(self) -> None:
        run, kwargs = self.run, self.kwargs
        config = self._config()
        graph_input = await self._input(config)
        saver = None if kwargs.get("temporary") else checkpointer()
        store = registry().store.for_tenant(run.tenant_id, owner=self.principal.identity)
        async with registry().graph(run.graph_id, config, checkpointer=saver, store=store) as graph:
            self.graph = graph
            modes = graph_modes(kwargs.get("stream_mode") or ["values"])
            if self.protocol is not None:
                modes = sorted({*modes, *PROTOCOL_MODES})
            options = {
                "config": config,
                "context": kwargs.get("context") or None,
                "stream_mode": modes,
                "subgraphs": True,
                "interrupt_before": kwargs.get("interrupt_before"),
                "interrupt_after": kwargs.get("interrupt_after"),
            }
            if saver is not None:
                # Without a checkpointer (temporary runs) there is nothing to make durable.
                options["durability"] = kwargs.get("durability") or "sync"
            if "events" in (kwargs.get("stream_mode") or []):
                await self._stream_events(graph, graph_input, options)
            else:
                # aclosing: leaving early (a step boundary) still runs LangGraph's cleanup,
                # which finishes the pending checkpoint writes.
                async with contextlib.aclosing(graph.astream(graph_input, **options)) as chunks:
                    async for namespace, mode, data in chunks:
                        self._chunk(namespace, mode, data)

    def _chunk(self, namespace: tuple[str, ...], mode: str, data: Any) -> None:
        if not namespace and mode == "values" and self.stop_reason == "shutdown":
            raise StepBoundary  # a root values chunk closes a step
        if mode == "checkpoints" and not namespace:
            self.last_checkpoint = data
        if self.protocol is not None:
            self.protocol.chunk(namespace, mode, data)
        if not namespace or self.kwargs.get("subgraphs"):
            self.translator.chunk(namespace, mode, data)
        self.flush()

    async def _stream_events(self, graph, graph_input: Any, options: dict[str, Any]) -> None:
        """``events`` mode: LangChain's astream_events, which also carries the other modes'
        chunks as the root graph's ``on_chain_stream`` events."""
        root_id = None
        events = graph.astream_events(graph_input, version="v2", **options)
        async for event in events:
            if root_id is None and event["event"] == "on_chain_start":
                root_id = event["run_id"]
            if event["event"] == "on_chain_stream" and event["run_id"] == root_id:
                self._chunk(*event["data"]["chunk"])
                continue
            self.emit("events", event)
            self.flush()

    def _config(self) -> dict[str, Any]:
        """The run's RunnableConfig: its stored config (layered over the assistant's at
        creation) under what the server sets (ids the graph and deepagents read)."""
        run, kwargs = self.run, self.kwargs
        stored = kwargs.get("config") or {}
        principal = self.principal
        configurable = {
            **(stored.get("configurable") or {}),
            **(kwargs.get("context") or {}),
            "run_id": str(run.run_id),
            "thread_id": str(run.thread_id),
            "graph_id": run.graph_id,
            "assistant_id": str(run.assistant_id),
            # Who the run acts for (reference §9.2): per-user memory namespaces read these.
            "langgraph_auth_user": AuthUser(principal.auth_user()),
            "langgraph_auth_user_id": principal.identity,
            "langgraph_auth_permissions": list(principal.scopes),
        }
        checkpoint = kwargs.get("checkpoint")
        if checkpoint and run.attempt == 1:
            configurable.update({k: v for k, v in checkpoint.items() if v is not None})
            configurable["thread_id"] = str(run.thread_id)
        config = {
            **{k: v for k, v in stored.items() if k not in ("configurable", "metadata")},
            "configurable": configurable,
            "metadata": {
                **(stored.get("metadata") or {}),
                **run.metadata,
                "run_attempt": run.attempt,
            },
            "run_id": run.run_id,
        }
        config.setdefault("recursion_limit", getattr(settings, "AGENTSERVER_RECURSION_LIMIT", 25))
        return config

    async def _input(self, config: dict[str, Any]) -> Any:
        """The graph input. A later attempt that finds checkpoints of this run resumes from the
        latest one with ``None``: LangGraph replays the saved writes, so finished tasks of the
        interrupted step are not executed again."""
        retry = self.run.attempt > 1 and not self.kwargs.get("temporary")
        if retry and await self._has_checkpoint_of_run():
            return None
        command = self.kwargs.get("command")
        if command:
            return _command(command)
        return self.kwargs.get("input")

    async def _has_checkpoint_of_run(self) -> bool:
        async for _ in checkpointer().alist(
            {"configurable": {"thread_id": str(self.run.thread_id)}},
            filter={"run_id": str(self.run.run_id)},
            limit=1,
        ):
            return True
        return False

    async def _watch(self, graph_task: asyncio.Future) -> None:
        """Extend the lease and look for a cancel or a shutdown, twice a second. A cancel stops
        the graph at once (it keeps the checkpoints of finished steps); a shutdown lets the
        current step finish and stops at the step boundary, or after a grace period."""
        interval = float(getattr(settings, "AGENTSERVER_CANCEL_POLL_SECONDS", 0.5))
        grace = float(getattr(settings, "AGENTSERVER_DRAIN_GRACE_SECONDS", 30))
        beats_per_lease = max(1, int(services.lease_seconds() / 3 / interval))
        tick, drain_deadline = 0, None
        loop = asyncio.get_running_loop()
        while not graph_task.done():
            await asyncio.sleep(interval)
            tick += 1
            if draining.is_set() and drain_deadline is None:
                self.stop_reason = "shutdown"
                drain_deadline = loop.time() + grace
            if drain_deadline is not None and loop.time() > drain_deadline:
                graph_task.cancel()
                return
            if tick % beats_per_lease == 0:
                owned, action = await db_threads().arun(
                    services.run_heartbeat, run_id=self.run.run_id, attempt=self.run.attempt
                )
                if not owned:
                    self._stop(graph_task, "lost")
                    return
            else:
                action = await db_threads().arun(
                    services.run_cancel_requested, run_id=self.run.run_id
                )
            if action and drain_deadline is None:
                self._stop(graph_task, action)
                return

    def _stop(self, graph_task: asyncio.Future, reason: str) -> None:
        self.stop_reason = reason
        graph_task.cancel()

    async def _settle(self, outcome: Outcome) -> bool:
        rolled_back = self.stop_reason == "rollback"
        if rolled_back:
            # Before the run ends (and the next run of the thread may start): the thread goes
            # back to its state before this run.
            await checkpointer().adelete_for_runs([str(self.run.run_id)])
        values, interrupts, has_next = services.UNSET, {}, False
        if not self.kwargs.get("temporary"):
            values, interrupts, has_next = await self._final_state(outcome)
        self.pending_interrupts, self.paused = interrupts, has_next
        return await db_threads().arun(
            services.run_finish,
            run=self.run,
            status=outcome.status,
            output=outcome.output,
            error=outcome.error,
            values=values,
            interrupts=interrupts,
            has_next=has_next,
            rolled_back=rolled_back,
            announce=functools.partial(self._announce, outcome),
        )

    async def _final_state(self, outcome: Outcome) -> tuple[Any, dict[str, Any], bool]:
        """The thread's values, pending interrupts and whether a node waits, after the run."""
        graph = self.graph
        if graph is None:
            return services.UNSET, {}, False
        last = self.last_checkpoint
        if outcome.status == RunStatus.SUCCESS and last and not last["next"] and not last["tasks"]:
            # A run that went to the end streamed its final checkpoint (runs on kept threads
            # stream the checkpoints mode): the state is that, with nothing left to read.
            return to_jsonable(last["values"]), {}, False
        snapshot = await graph.aget_state({"configurable": {"thread_id": str(self.run.thread_id)}})
        if snapshot.created_at is None:
            return None, {}, False
        # Tasks with saved results but no next checkpoint (the run was stopped right after
        # them) leave ``next`` empty, yet the thread still has a step to finish.
        pending = bool(snapshot.next or snapshot.tasks)
        return to_jsonable(snapshot.values), interrupts_by_task(snapshot), pending


def _failure(outcome: Outcome) -> str:
    """What a protocol ``failed`` event says: ``"<Type>: <message>"``, or ``cancelled``."""
    return "cancelled" if outcome.error is None else error_text(outcome.error)


def _command(command: dict[str, Any]) -> Command:
    goto = command.get("goto")
    if goto is not None:
        targets = goto if isinstance(goto, list) else [goto]
        goto = [Send(t["node"], t.get("input")) if isinstance(t, dict) else t for t in targets]
    update = command.get("update")
    if isinstance(update, list):
        update = [tuple(pair) for pair in update]
    return Command(resume=command.get("resume"), update=update, goto=goto or ())


def run_principal(run: Run) -> Principal:
    """The principal the run acts for; a run stored before tenancy acts for its tenant."""
    if run.principal:
        return Principal.from_json(run.principal)
    return Principal(tenant_id=run.tenant_id, identity=run.owner or "local", kind="local")
