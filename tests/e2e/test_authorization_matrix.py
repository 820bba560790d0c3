"""Every API endpoint, for every persona, → the expected status, with nothing leaked and nothing
of another tenant's written, against a real server with API keys on.

The endpoints come from the URL conf: an endpoint without a case here fails the test, so a new
endpoint cannot ship without saying who may call it.

Personas: the tenant's owner, member and viewer, an outsider (the owner of another tenant)
and an anonymous caller. The outsider and the anonymous caller learn nothing of the tenant's
objects (404 / 401, and no id of them in any answer); the viewer, the outsider and the
anonymous caller change nothing of the tenant's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.waiting import wait_for

PERSONAS = ("owner", "member", "viewer", "outsider", "anonymous")
PUBLIC_ROUTES = {"", "ok", "info", "openapi.json", "docs", "ui/chat", "ui/<str:name>"}
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
RUN = {"assistant_id": "agent", "input": INPUT}
CRON = {"assistant_id": "agent", "schedule": "0 0 1 1 *", "input": INPUT}

# What each kind of endpoint answers each persona; "ok" is the endpoint's success status.
OK = "ok"
KINDS: dict[str, dict[str, int | str]] = {
    # reads of one of the tenant's objects
    "read": {"owner": OK, "member": OK, "viewer": OK, "outsider": 404, "anonymous": 401},
    # changes to one of the tenant's objects (threads, runs, store)
    "write": {"owner": OK, "member": OK, "viewer": 403, "outsider": 404, "anonymous": 401},
    # listings and searches: the outsider gets its own (empty) tenant's
    "list": {"owner": OK, "member": OK, "viewer": OK, "outsider": OK, "anonymous": 401},
    # creations: the outsider creates in its own tenant
    "create": {"owner": OK, "member": OK, "viewer": 403, "outsider": OK, "anonymous": 401},
    # operator actions on assistants (deploy / configure): owners and admins only
    "deploy": {"owner": OK, "member": 403, "viewer": 403, "outsider": OK, "anonymous": 401},
    "configure": {"owner": OK, "member": 403, "viewer": 403, "outsider": 404, "anonymous": 401},
    # protocol commands: refusals are error envelopes in a 200 (reference §6.1)
    "command": {"owner": OK, "member": OK, "viewer": OK, "outsider": OK, "anonymous": 401},
}


@dataclass
class World:
    """One tenant's objects, made by its owner: an assistant, a thread with a finished run,
    a second thread with a run delayed by an hour (so it stays pending), a store item."""

    assistant: str
    thread: str
    run: str
    checkpoint: str
    idle_thread: str
    pending_run: str
    namespace: list[str]
    cron: str

    @property
    def ids(self) -> list[str]:
        return [
            self.assistant,
            self.thread,
            self.run,
            self.idle_thread,
            self.pending_run,
            self.cron,
        ]


@dataclass
class Case:
    kind: str
    path: Callable[[World], str]
    body: Callable[[World], Any] | None = None
    ok: int = 200
    forever: bool = False  # an event stream that never ends: look at the status only
    params: Callable[[World], dict] | None = field(default=None)


def W(template: str) -> Callable[[World], str]:
    return lambda world: template.format(w=world)


CASES: dict[tuple[str, str], Case] = {
    # assistants
    ("POST", "assistants"): Case("deploy", W("/assistants"), lambda w: {"graph_id": "agent"}),
    ("POST", "assistants/search"): Case("list", W("/assistants/search"), lambda w: {}),
    ("POST", "assistants/count"): Case("list", W("/assistants/count"), lambda w: {}),
    ("GET", "assistants/<str:assistant_id>"): Case("read", W("/assistants/{w.assistant}")),
    ("PATCH", "assistants/<str:assistant_id>"): Case(
        "configure", W("/assistants/{w.assistant}"), lambda w: {"metadata": {"touched": 1}}
    ),
    ("DELETE", "assistants/<str:assistant_id>"): Case(
        "configure", W("/assistants/{w.assistant}"), ok=204
    ),
    ("GET", "assistants/<str:assistant_id>/graph"): Case(
        "read", W("/assistants/{w.assistant}/graph")
    ),
    ("GET", "assistants/<str:assistant_id>/schemas"): Case(
        "read", W("/assistants/{w.assistant}/schemas")
    ),
    ("GET", "assistants/<str:assistant_id>/subgraphs"): Case(
        "read", W("/assistants/{w.assistant}/subgraphs")
    ),
    ("GET", "assistants/<str:assistant_id>/subgraphs/<path:namespace>"): Case(
        "read", W("/assistants/{w.assistant}/subgraphs/none")
    ),
    ("POST", "assistants/<str:assistant_id>/versions"): Case(
        "read", W("/assistants/{w.assistant}/versions"), lambda w: {}
    ),
    ("POST", "assistants/<str:assistant_id>/latest"): Case(
        "configure", W("/assistants/{w.assistant}/latest"), lambda w: {"version": 1}
    ),
    # threads
    ("POST", "threads"): Case("create", W("/threads"), lambda w: {}),
    ("POST", "threads/search"): Case("list", W("/threads/search"), lambda w: {}),
    ("POST", "threads/count"): Case("list", W("/threads/count"), lambda w: {}),
    ("POST", "threads/prune"): Case(
        "create", W("/threads/prune"), lambda w: {"thread_ids": [w.thread]}
    ),
    ("GET", "threads/<str:thread_id>"): Case("read", W("/threads/{w.thread}")),
    ("PATCH", "threads/<str:thread_id>"): Case(
        "write", W("/threads/{w.thread}"), lambda w: {"metadata": {"touched": 1}}
    ),
    ("DELETE", "threads/<str:thread_id>"): Case("write", W("/threads/{w.thread}"), ok=204),
    ("POST", "threads/<str:thread_id>/copy"): Case("write", W("/threads/{w.thread}/copy")),
    ("GET", "threads/<str:thread_id>/state"): Case("read", W("/threads/{w.thread}/state")),
    ("POST", "threads/<str:thread_id>/state"): Case(
        "write", W("/threads/{w.thread}/state"), lambda w: {"values": {"messages": []}}
    ),
    ("POST", "threads/<str:thread_id>/state/checkpoint"): Case(
        "read",
        W("/threads/{w.thread}/state/checkpoint"),
        lambda w: {"checkpoint": {"checkpoint_id": w.checkpoint}},
    ),
    ("GET", "threads/<str:thread_id>/state/<str:checkpoint_id>"): Case(
        "read", W("/threads/{w.thread}/state/{w.checkpoint}")
    ),
    ("GET", "threads/<str:thread_id>/history"): Case("read", W("/threads/{w.thread}/history")),
    ("POST", "threads/<str:thread_id>/history"): Case(
        "read", W("/threads/{w.thread}/history"), lambda w: {}
    ),
    ("GET", "threads/<str:thread_id>/stream"): Case(
        "read", W("/threads/{w.thread}/stream"), forever=True
    ),
    # the thread-centric protocol
    ("POST", "threads/<str:thread_id>/stream"): Case(
        "read", W("/threads/{w.thread}/stream"), lambda w: {"channels": ["values"]}, forever=True
    ),
    ("POST", "threads/<str:thread_id>/stream/events"): Case(
        "read",
        W("/threads/{w.thread}/stream/events"),
        lambda w: {"channels": ["values"]},
        forever=True,
    ),
    ("POST", "threads/<str:thread_id>/commands"): Case(
        "command",
        W("/threads/{w.thread}/commands"),
        lambda w: {"id": 1, "method": "run.start", "params": RUN},
    ),
    # runs
    ("GET", "threads/<str:thread_id>/runs"): Case("read", W("/threads/{w.thread}/runs")),
    ("POST", "threads/<str:thread_id>/runs"): Case(
        "write", W("/threads/{w.thread}/runs"), lambda w: RUN
    ),
    ("POST", "threads/<str:thread_id>/runs/stream"): Case(
        "write", W("/threads/{w.thread}/runs/stream"), lambda w: RUN
    ),
    ("POST", "threads/<str:thread_id>/runs/wait"): Case(
        "write", W("/threads/{w.thread}/runs/wait"), lambda w: RUN
    ),
    ("GET", "threads/<str:thread_id>/runs/<str:run_id>"): Case(
        "read", W("/threads/{w.thread}/runs/{w.run}")
    ),
    ("DELETE", "threads/<str:thread_id>/runs/<str:run_id>"): Case(
        "write", W("/threads/{w.thread}/runs/{w.run}"), ok=204
    ),
    ("GET", "threads/<str:thread_id>/runs/<str:run_id>/join"): Case(
        "read", W("/threads/{w.thread}/runs/{w.run}/join")
    ),
    ("GET", "threads/<str:thread_id>/runs/<str:run_id>/stream"): Case(
        "read", W("/threads/{w.thread}/runs/{w.run}/stream")
    ),
    ("POST", "threads/<str:thread_id>/runs/<str:run_id>/cancel"): Case(
        "write",
        W("/threads/{w.idle_thread}/runs/{w.pending_run}/cancel"),
        ok=202,
    ),
    ("POST", "runs"): Case("create", W("/runs"), lambda w: RUN),
    ("POST", "runs/stream"): Case("create", W("/runs/stream"), lambda w: RUN),
    ("POST", "runs/wait"): Case("create", W("/runs/wait"), lambda w: RUN),
    ("POST", "runs/batch"): Case("create", W("/runs/batch"), lambda w: [RUN]),
    ("POST", "runs/cancel"): Case(
        "write",
        W("/runs/cancel"),
        lambda w: {"thread_id": w.idle_thread, "run_ids": [w.pending_run]},
        ok=204,
    ),
    ("GET", "runs/<str:run_id>/stream"): Case("read", W("/runs/{w.run}/stream")),
    # crons: managing them is an operator's (admin, owner) job
    ("POST", "runs/crons"): Case("deploy", W("/runs/crons"), lambda w: CRON),
    ("POST", "threads/<str:thread_id>/runs/crons"): Case(
        "configure", W("/threads/{w.thread}/runs/crons"), lambda w: CRON
    ),
    ("POST", "runs/crons/search"): Case("list", W("/runs/crons/search"), lambda w: {}),
    ("POST", "runs/crons/count"): Case("list", W("/runs/crons/count"), lambda w: {}),
    ("GET", "runs/crons/<str:cron_id>"): Case("read", W("/runs/crons/{w.cron}")),
    ("PATCH", "runs/crons/<str:cron_id>"): Case(
        "configure", W("/runs/crons/{w.cron}"), lambda w: {"enabled": False}
    ),
    ("DELETE", "runs/crons/<str:cron_id>"): Case("configure", W("/runs/crons/{w.cron}"), ok=204),
    # store: the outsider works in its own tenant's store, and never sees this one's
    ("PUT", "store/items"): Case(
        "create",
        W("/store/items"),
        lambda w: {"namespace": w.namespace, "key": "k", "value": {"note": "overwritten"}},
        ok=204,
    ),
    ("GET", "store/items"): Case(
        "list", W("/store/items"), params=lambda w: {"namespace": ".".join(w.namespace), "key": "k"}
    ),
    ("DELETE", "store/items"): Case(
        "create", W("/store/items"), lambda w: {"namespace": w.namespace, "key": "k"}, ok=204
    ),
    ("POST", "store/items/search"): Case(
        "list", W("/store/items/search"), lambda w: {"namespace_prefix": w.namespace}
    ),
    ("POST", "store/namespaces"): Case("list", W("/store/namespaces"), lambda w: {}),
}


def api_routes() -> set[tuple[str, str]]:
    """(method, route) of every API endpoint in the URL conf (admin and meta excluded)."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith("admin"):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route not in PUBLIC_ROUTES:
                callback = pattern.callback
                view_class = getattr(callback, "view_class", None)
                if view_class is not None:
                    methods = [
                        m.upper()
                        for m in view_class.http_method_names
                        if m not in ("options", "head") and hasattr(view_class, m)
                    ]
                else:
                    methods = list(callback.allowed_methods)
                found.update((method, route) for method in methods)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_endpoint_has_an_authorization_case():
    routes = api_routes()

    assert sorted(routes - CASES.keys()) == [], "endpoints without a case"
    assert sorted(CASES.keys() - routes) == [], "cases for endpoints that do not exist"


# --- the server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def callers(secured) -> dict[str, httpx.Client]:
    keys = {
        "owner": secured.api_key(tenant="acme", user="olivia", role="owner"),
        "member": secured.api_key(tenant="acme", user="max", role="member"),
        "viewer": secured.api_key(tenant="acme", user="vera", role="viewer"),
        "outsider": secured.api_key(tenant="globex", user="oscar", role="owner"),
    }
    clients = {
        persona: httpx.Client(base_url=secured.url, timeout=30, headers={"x-api-key": key})
        for persona, key in keys.items()
    }
    clients["anonymous"] = httpx.Client(base_url=secured.url, timeout=30)
    yield clients
    for client in clients.values():
        client.close()


def make_world(owner: httpx.Client) -> World:
    def ok(response: httpx.Response) -> Any:
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    assistant = ok(owner.post("/assistants", json={"graph_id": "agent", "name": "acme's"}))
    thread = ok(owner.post("/threads", json={"metadata": {"team": "acme"}}))
    run = ok(owner.post(f"/threads/{thread['thread_id']}/runs", json=RUN))
    ok(owner.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/join"))
    state = ok(owner.get(f"/threads/{thread['thread_id']}/state"))
    idle = ok(owner.post("/threads", json={}))
    pending = ok(
        owner.post(f"/threads/{idle['thread_id']}/runs", json={**RUN, "after_seconds": 3600})
    )
    namespace = ["acme-notes", uuid.uuid4().hex]
    item = {"namespace": namespace, "key": "k", "value": {"note": "acme-secret"}}
    ok(owner.put("/store/items", json=item))
    cron = ok(owner.post("/runs/crons", json=CRON))
    return World(
        assistant=assistant["assistant_id"],
        thread=thread["thread_id"],
        run=run["run_id"],
        checkpoint=state["checkpoint"]["checkpoint_id"],
        idle_thread=idle["thread_id"],
        pending_run=pending["run_id"],
        namespace=namespace,
        cron=cron["cron_id"],
    )


def fingerprint(owner: httpx.Client, world: World) -> dict[str, Any]:
    """What the owner sees of its world (what nobody else may change)."""

    def get(path: str, **params: Any) -> Any:
        response = owner.get(path, params=params)
        return response.status_code, response.json()

    thread = get(f"/threads/{world.thread}")
    item = get("/store/items", namespace=".".join(world.namespace), key="k")[1]
    return {
        "assistant": get(f"/assistants/{world.assistant}"),
        "thread": (thread[0], thread[1].get("metadata"), thread[1].get("values")),
        "run": get(f"/threads/{world.thread}/runs/{world.run}"),
        "pending": get(f"/threads/{world.idle_thread}/runs/{world.pending_run}"),
        "item": item and item["value"],
        "cron": get(f"/runs/crons/{world.cron}"),
    }


def call(client: httpx.Client, method: str, case: Case, world: World) -> tuple[int, str]:
    body = case.body(world) if case.body else None
    kwargs: dict[str, Any] = {"params": case.params(world) if case.params else None}
    if body is not None:
        kwargs["json"] = body
    with client.stream(method, case.path(world), **kwargs) as response:
        text = "" if case.forever else response.read().decode()
        return response.status_code, text


@pytest.fixture(scope="module")
def shared_world(callers) -> World:
    return make_world(callers["owner"])


@pytest.mark.parametrize(("method", "route"), sorted(CASES))
def test_each_persona_gets_what_its_role_allows_and_nothing_else(
    method, route, callers, shared_world
):
    case = CASES[(method, route)]
    owner = callers["owner"]
    answers = {}
    for persona in PERSONAS:
        expected = KINDS[case.kind][persona]
        expected = case.ok if expected == OK else expected
        # The tenant's own successful changes get a world of their own; everyone else acts
        # on the shared one, which must come out unchanged.
        acting = expected < 300 and persona in ("owner", "member")
        world = make_world(owner) if acting and case.kind not in ("read", "list") else shared_world
        before = None if acting else fingerprint(owner, world)

        status, text = call(callers[persona], method, case, world)

        answers[persona] = status
        assert status == expected, (persona, method, route, status, text[:300])
        if persona in ("outsider", "anonymous"):
            leaked = {marker for marker in [*world.ids, "acme-secret"] if marker in text}
            assert leaked <= _sent(case, world), (persona, method, route, leaked)
        if before is not None:
            assert fingerprint(owner, world) == before, (persona, "changed the tenant's data")


def _sent(case: Case, world: World) -> set[str]:
    """Ids an answer may repeat because the caller sent them (e.g. "Thread <id> not found")."""
    sent = case.path(world) + json.dumps(case.body(world) if case.body else None)
    return {marker for marker in world.ids if marker in sent}


def test_a_destructive_success_really_acted(callers):
    """The fresh worlds above are used up by their owner; a sanity check that deleting a
    thread with the owner's key removes it for every persona of the tenant."""
    world = make_world(callers["owner"])
    assert callers["member"].delete(f"/threads/{world.thread}").status_code == 204
    wait_for(
        lambda: callers["viewer"].get(f"/threads/{world.thread}").status_code == 404,
        timeout=10,
        what="the deleted thread to be gone",
    )


def test_an_api_key_of_another_tenant_cannot_take_over_an_id(callers, shared_world):
    outsider = callers["outsider"]

    taken = outsider.post("/threads", json={"thread_id": shared_world.thread})
    joined = outsider.post(
        f"/threads/{shared_world.thread}/runs", json={**RUN, "if_not_exists": "create"}
    )

    assert taken.status_code == 409
    assert joined.status_code == 409
    assert uuid.UUID(shared_world.thread)
