"""The thread-stream websocket in process, through Channels' WebsocketCommunicator: who may
connect, subscriptions and their replay, commands and the double-texting strategies, and what
happens to malformed or flooding clients."""

from __future__ import annotations

import contextlib
import time
import uuid

import orjson
import pytest
from channels.testing.websocket import WebsocketCommunicator

from agentserver.asgi import application
from apps.core.dbthreads import db_threads
from apps.runs.models import Run, RunStatus
from apps.streams import consumers
from apps.streams import hub as hub_module
from apps.tenancy.principal import local_principal
from apps.threads.models import Thread
from apps.threads.services import thread_delete, threads_prune
from tests.streams.frames import FramesServer
from tests.streams.threads import completed, started, token, write
from tests.tenancy.conftest import make_caller
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, params=["websocket.send", "frames"])
def server(request, monkeypatch):
    """Every test runs with both ways the consumer sends: a ``websocket.send`` per event (any
    ASGI server), and agentserver's frames extension (its own server)."""
    app = application if request.param == "websocket.send" else FramesServer(application)
    monkeypatch.setattr(f"{__name__}.application", app)
    return app


async def in_db(fn, *args, **kwargs):
    """Run ``fn`` on the database threads (closed at the end of the session, unlike
    asgiref's sync thread, whose connection would outlive the test database)."""
    return await db_threads().arun(fn, *args, **kwargs)


LIFECYCLE = {"channels": ["lifecycle"]}


class Socket:
    """A connected communicator that speaks JSON frames."""

    def __init__(self, thread_id: str, headers: list[tuple[bytes, bytes]] | None = None):
        path = f"/threads/{thread_id}/stream/events"
        self.ws = WebsocketCommunicator(application, path, headers=headers or [])
        self.next_id = 0

    async def __aenter__(self) -> Socket:
        connected, _ = await self.ws.connect()
        assert connected
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.disconnect()

    async def send(self, method: str, params: dict | None = None) -> int:
        self.next_id += 1
        frame = {"id": self.next_id, "method": method, "params": params or {}}
        await self.ws.send_to(text_data=orjson.dumps(frame).decode())
        return self.next_id

    async def call(self, method: str, params: dict | None = None) -> dict:
        """Send a command and return its reply (events that come first are kept aside)."""
        sent = await self.send(method, params)
        while True:
            frame = await self.receive()
            if frame.get("id") == sent and frame["type"] in ("success", "error"):
                return frame

    async def receive(self, timeout: float = 5) -> dict:
        return orjson.loads(await self.ws.receive_from(timeout=timeout))

    async def events(self, count: int) -> list[dict]:
        frames = [await self.receive() for _ in range(count)]
        return [frame for frame in frames if frame["type"] == "event"]

    async def nothing_more(self) -> bool:
        return await self.ws.receive_nothing(timeout=0.3)


# --- who may connect --------------------------------------------------------------------------


async def test_without_authentication_a_subscription_replays_the_latest_run(thread_id):
    write(thread_id, started("old"), completed("old"), run_start=True)
    write(thread_id, started("new"), token("Hi"), run_start=True)
    async with Socket(thread_id) as socket:
        reply = await socket.call("subscription.subscribe", {"channels": ["lifecycle", "messages"]})
        events = await socket.events(2)

    assert reply["result"] == {"subscription_id": "sub-1", "replayed_events": 2}
    assert [event["seq"] for event in events] == [3, 4]
    assert events[0]["params"]["data"]["run_id"] == "new"


@pytest.fixture
def api_keys(settings):
    settings.AGENTSERVER_AUTH = "apikey"


async def keyed(tenant: str, user: str) -> str:
    return (await in_db(make_caller, tenant, user, "member")).key


async def answer_to_subscribe(thread_id: str, headers: list[tuple[bytes, bytes]]) -> dict:
    """What a socket opened with ``headers`` answers its first frame, a subscribe: the reply
    (``websocket.send``) or a ``websocket.close``."""
    ws = WebsocketCommunicator(application, f"/threads/{thread_id}/stream/events", headers=headers)
    await ws.connect()
    frame = {"id": 1, "method": "subscription.subscribe", "params": LIFECYCLE}
    await ws.send_to(text_data=orjson.dumps(frame).decode())
    output = await ws.receive_output(timeout=5)
    await ws.disconnect()
    return output


async def closed_with(socket: WebsocketCommunicator) -> int:
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close", f"expected a close, got {output}"
    return output["code"]


async def test_a_key_in_the_handshake_opens_the_stream(thread_id, api_keys):
    key = await keyed("acme", "alice")
    await in_db(_own_thread, thread_id, "acme")
    async with Socket(thread_id, headers=[(b"x-api-key", key.encode())]) as socket:
        reply = await socket.call("subscription.subscribe", LIFECYCLE)
    assert reply["type"] == "success"


async def test_a_key_in_the_first_frame_opens_the_stream(thread_id, api_keys):
    key = await keyed("acme", "alice")
    await in_db(_own_thread, thread_id, "acme")
    async with Socket(thread_id) as socket:
        assert (await socket.call("auth", {"api_key": key}))["type"] == "success"
        assert (await socket.call("subscription.subscribe", LIFECYCLE))["type"] == "success"


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ("none", 4401),
        ("wrong key in the handshake", 4401),
        ("wrong key in the first frame", 4401),
        ("another tenant's key", 4404),
        ("garbage as the first frame", 4401),
        ("an auth frame with a malformed key", 4401),
    ],
)
async def test_a_refused_socket_is_closed_before_anything_is_sent(
    thread_id, api_keys, credentials, code
):
    await in_db(_own_thread, thread_id, "acme")
    outsider = await keyed("globex", "mallory")
    headers = {
        "wrong key in the handshake": [(b"x-api-key", b"as_000000000000_nope")],
        "another tenant's key": [(b"x-api-key", outsider.encode())],
    }.get(credentials, [])
    ws = WebsocketCommunicator(application, f"/threads/{thread_id}/stream/events", headers=headers)
    await ws.connect()
    if credentials == "none":
        frame = {"id": 1, "method": "subscription.subscribe", "params": LIFECYCLE}
        await ws.send_to(text_data=orjson.dumps(frame).decode())
    if credentials == "wrong key in the first frame":
        frame = {"id": 1, "method": "auth", "params": {"api_key": "as_000000000000_nope"}}
        await ws.send_to(text_data=orjson.dumps(frame).decode())
    if credentials == "garbage as the first frame":
        await ws.send_to(text_data="{not json")
    if credentials == "an auth frame with a malformed key":
        frame = {"id": 1, "method": "auth", "params": {"api_key": 5}}
        await ws.send_to(text_data=orjson.dumps(frame).decode())
    assert await closed_with(ws) == code
    await ws.disconnect()


async def test_a_client_that_never_authenticates_is_closed(thread_id, api_keys, monkeypatch):
    monkeypatch.setattr(consumers, "AUTH_TIMEOUT", 0.2)
    ws = WebsocketCommunicator(application, f"/threads/{thread_id}/stream/events")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()


async def test_a_socket_opened_before_another_tenant_creates_the_thread_sees_none_of_it(
    api_keys,
):
    thread_id = str(uuid.uuid4())
    mallory = await keyed("globex", "mallory")
    async with Socket(thread_id, headers=[(b"x-api-key", mallory.encode())]) as socket:
        acme = await in_db(_thread_of, thread_id, "acme")
        write(
            thread_id, started(), token("acme's secret"), completed(), run_start=True, tenant=acme
        )
        await socket.send("subscription.subscribe", {"channels": ["messages"], "since": 0})
        assert await closed_with(socket.ws) == 4404


async def test_deleting_a_thread_ends_its_followers_before_its_id_is_used_again(api_keys):
    thread_id = str(uuid.uuid4())
    mallory = await keyed("globex", "mallory")
    await in_db(_thread_of, thread_id, "globex")
    async with Socket(thread_id, headers=[(b"x-api-key", mallory.encode())]) as socket:
        await socket.call("subscription.subscribe", {"channels": ["messages"]})
        await in_db(thread_delete, thread_id=uuid.UUID(thread_id))
        assert await closed_with(socket.ws) == 4404


def _thread_of(thread_id: str, slug: str):
    """A thread ``thread_id`` in tenant ``slug``; returns the tenant id."""
    from apps.tenancy.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug})
    Thread.objects.create(thread_id=thread_id, metadata={}, tenant=tenant)
    return tenant.tenant_id


def _own_thread(thread_id: str, slug: str) -> None:
    from apps.tenancy.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug})
    Thread.objects.filter(pk=thread_id).update(tenant=tenant)


# --- subscriptions ----------------------------------------------------------------------------


async def test_since_replays_exactly_what_came_after_it(thread_id):
    write(thread_id, started(), *(token(str(n)) for n in range(5)), completed(), run_start=True)
    async with Socket(thread_id) as socket:
        reply = await socket.call("subscription.subscribe", {"channels": ["messages"], "since": 3})
        events = await socket.events(3)
        assert await socket.nothing_more()

    assert reply["result"]["replayed_events"] == 3
    assert [event["seq"] for event in events] == [4, 5, 6]


async def test_live_events_reach_each_socket_once_whatever_the_overlap(thread_id):
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", {"channels": ["lifecycle", "messages"]})
        await socket.call("subscription.subscribe", {"channels": ["messages"]})
        write(thread_id, started(), token("a"), run_start=True)
        events = await socket.events(2)
        assert await socket.nothing_more()

    assert [event["seq"] for event in events] == [1, 2]


async def test_a_new_subscription_gets_its_own_replay(thread_id):
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", {"channels": ["lifecycle"]})
        write(thread_id, started(), token("a"), run_start=True)
        assert [e["seq"] for e in await socket.events(1)] == [1]
        reply = await socket.call("subscription.subscribe", {"channels": ["messages"], "since": 0})
        replayed = await socket.events(1)
        write(thread_id, token("b"))
        live = await socket.events(1)

    assert reply["result"]["replayed_events"] == 1
    assert [e["seq"] for e in replayed + live] == [2, 3]


async def test_an_unsubscribed_filter_stops_receiving(thread_id):
    async with Socket(thread_id) as socket:
        reply = await socket.call("subscription.subscribe", {"channels": ["messages"]})
        subscription_id = reply["result"]["subscription_id"]
        unsubscribed = await socket.call(
            "subscription.unsubscribe", {"subscription_id": subscription_id}
        )
        again = await socket.call("subscription.unsubscribe", {"subscription_id": subscription_id})
        write(thread_id, token("a"))
        assert await socket.nothing_more()

    assert unsubscribed == {"type": "success", "id": 2, "result": {}}
    assert again["error"] == "no_such_subscription"


async def test_subscriptions_filter_by_namespace_and_depth(thread_id):
    async with Socket(thread_id) as socket:
        await socket.call(
            "subscription.subscribe", {"channels": ["messages"], "namespaces": [[]], "depth": 0}
        )
        write(thread_id, ("messages", ["child:1"], {"event": "x"}), token("root"))
        events = await socket.events(1)
        assert await socket.nothing_more()

    assert events[0]["params"]["namespace"] == []


async def test_sockets_on_one_thread_each_get_what_their_own_filters_let_through(thread_id):
    filters = [["messages"], ["lifecycle"], ["messages"], ["lifecycle", "messages"]]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(Socket(thread_id)) for _ in filters]
        for socket, channels in zip(sockets, filters, strict=True):
            await socket.call("subscription.subscribe", {"channels": channels})
        write(thread_id, started(), token("a"), token("b"), run_start=True)
        write(thread_id, token("c"), completed())
        counts = [3, 2, 3, 5]
        received = [
            [event["method"] for event in await socket.events(count)]
            for socket, count in zip(sockets, counts, strict=True)
        ]
        assert all([await socket.nothing_more() for socket in sockets])

    messages, lifecycle = ["messages"] * 3, ["lifecycle"] * 2
    assert received == [messages, lifecycle, messages, ["lifecycle", *messages, "lifecycle"]]


async def test_a_quiet_socket_gets_heartbeats(thread_id, monkeypatch):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(hub_module, "TICK_SECONDS", 0.05)
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", LIFECYCLE)
        frame = await socket.receive()

    assert frame["type"] == "heartbeat" and isinstance(frame["ts"], int)


@pytest.mark.parametrize("server", ["frames"], indirect=True)
async def test_live_events_go_out_in_the_feeds_turn(thread_id, server):
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", {"channels": ["messages"]})
        write(thread_id, token("a"))  # may come before the pump follows the stream
        await socket.events(1)
        before = server.at_once
        for text in "bc":
            write(thread_id, token(text))
            await socket.events(1)

    assert server.at_once == before + 2


@pytest.mark.parametrize("server", ["frames"], indirect=True)
async def test_events_for_a_full_socket_wait_for_room_and_keep_their_order(thread_id, server):
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", {"channels": ["messages"]})
        server.full = True
        write(thread_id, token("a"))
        await eventually(lambda: server.parked == 1, what="the pump to wait for room")
        write(thread_id, token("b"))
        assert await socket.nothing_more()
        server.full = False
        events = await socket.events(2)

    assert [event["params"]["data"]["delta"]["text"] for event in events] == ["a", "b"]


async def test_a_socket_whose_filter_drops_every_event_still_gets_heartbeats(
    thread_id, monkeypatch
):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", LIFECYCLE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            write(thread_id, token("x"))
            if not await socket.ws.receive_nothing(timeout=0.05):
                frame = await socket.receive()
                break
        else:
            pytest.fail("no heartbeat while filtered-out events kept coming")

    assert frame["type"] == "heartbeat"


# --- malformed frames and floods --------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "error", "reply_id"),
    [
        ("not json", "invalid_argument", None),
        ("[1, 2]", "invalid_argument", None),
        ('{"method": "run.start"}', "invalid_argument", None),
        ('{"id": 7, "method": 3}', "invalid_argument", 7),
        ('{"id": 7, "method": "run.start", "params": []}', "invalid_argument", 7),
        ('{"id": 7, "method": "no.such.thing"}', "unknown_command", 7),
        ('{"id": 7, "method": "subscription.subscribe", "params": {}}', "invalid_argument", 7),
        (
            '{"id": 7, "method": "subscription.subscribe", '
            '"params": {"channels": ["values"], "since": 18446744073709551615}}',
            "invalid_argument",
            7,
        ),
        (
            '{"id": 7, "method": "subscription.unsubscribe", "params": {"subscription_id": [1]}}',
            "invalid_argument",
            7,
        ),
        (
            '{"id": 7, "method": "run.start", "params": {"assistant_id": "agent", "x": 1}}',
            "invalid_argument",
            7,
        ),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_usable(
    thread_id, frame, error, reply_id
):
    async with Socket(thread_id) as socket:
        await socket.ws.send_to(text_data=frame)
        reply = await socket.receive()
        still = await socket.call("subscription.subscribe", LIFECYCLE)

    assert (reply["type"], reply["error"], reply["id"]) == ("error", error, reply_id)
    assert still["type"] == "success"


async def test_binary_and_oversized_frames_are_refused(thread_id):
    async with Socket(thread_id) as socket:
        await socket.ws.send_to(bytes_data=b"\x00\x01")
        binary = await socket.receive()
        await socket.ws.send_to(text_data="x" * (consumers.MAX_FRAME_BYTES + 1))
        oversized = await socket.receive()
        # Fewer characters than the limit, more bytes: bytes count.
        await socket.ws.send_to(text_data="\u20ac" * (consumers.MAX_FRAME_BYTES // 2))
        wide = await socket.receive()

    assert binary["error"] == oversized["error"] == wide["error"] == "invalid_argument"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(b"https://evil.example", False), (b"https://app.example", True), (None, True)],
)
async def test_browsers_on_other_sites_are_refused(thread_id, settings, origin, allowed):
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    headers = [(b"origin", origin)] if origin else []
    output = await answer_to_subscribe(thread_id, headers)

    assert (output["type"] == "websocket.send") is allowed
    assert allowed or output["code"] == 4403


async def test_a_flood_of_frames_is_rate_limited_then_closed(thread_id, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(consumers.time, "monotonic", lambda: clock[0])
    async with Socket(thread_id) as socket:
        for _ in range(int(consumers.RATE_BURST)):
            await socket.send("no.such.thing")
        replies = [await socket.receive() for _ in range(int(consumers.RATE_BURST))]
        await socket.send("no.such.thing")
        limited = await socket.receive()
        clock[0] += consumers.RATE_CLOSE_AFTER
        await socket.send("no.such.thing")
        code = await closed_with(socket.ws)

    assert {reply["error"] for reply in replies} == {"unknown_command"}
    assert limited["error"] == "rate_limited"
    assert code == 4429


# --- commands and double-texting --------------------------------------------------------------


def runs_of(thread_id: str) -> list[tuple[str, str]]:
    return list(
        Run.objects.filter(thread_id=thread_id)
        .order_by("created_at")
        .values_list("status", "multitask_strategy")
    )


async def start(socket: Socket, strategy: str | None = None) -> dict:
    params = {"assistant_id": "slow", "input": {"target": 1}}
    if strategy:
        params["multitaskStrategy"] = strategy
    return await socket.call("run.start", params)


async def test_run_start_creates_the_thread_and_reports_the_sequence_it_follows(thread_id):
    write(thread_id, started(), completed(), run_start=True)
    fresh = str(uuid.uuid4())
    async with Socket(thread_id) as socket:
        reply = await start(socket)
    async with Socket(fresh) as socket:
        first = await start(socket)

    assert reply.get("meta") == {"applied_through_seq": 2}, reply
    assert first["type"] == "success" and first["meta"] == {"applied_through_seq": 0}
    assert await in_db(
        Thread.objects.filter(pk=fresh).exists,
    )


@pytest.mark.parametrize(
    ("strategy", "first_run", "second"),
    [
        ("reject", RunStatus.PENDING, None),
        ("enqueue", RunStatus.PENDING, RunStatus.PENDING),
        ("interrupt", RunStatus.INTERRUPTED, RunStatus.PENDING),
        ("rollback", None, RunStatus.PENDING),
    ],
)
async def test_a_second_message_on_a_busy_thread_follows_its_strategy(
    thread_id, strategy, first_run, second
):
    async with Socket(thread_id) as socket:
        await start(socket)
        reply = await start(socket, strategy)

    statuses = [status for status, _ in await in_db(runs_of, thread_id)]
    assert statuses == [s for s in (first_run, second) if s is not None]
    if strategy == "reject":
        assert reply["type"] == "error" and reply["error"] == "invalid_argument"
        assert "already running" in reply["message"]
    else:
        assert reply["type"] == "success"


async def test_run_cancel_stops_every_active_run_of_the_thread(thread_id):
    async with Socket(thread_id) as socket:
        await start(socket)
        await start(socket, "enqueue")
        reply = await socket.call("run.cancel", {"action": "interrupt"})

    assert len(reply["result"]["run_ids"]) == 2
    assert {status for status, _ in await in_db(runs_of, thread_id)} == {RunStatus.INTERRUPTED}


async def test_answering_an_unknown_interrupt_is_refused(thread_id):
    async with Socket(thread_id) as socket:
        reply = await socket.call("input.respond", {"interrupt_id": "nope", "response": "yes"})

    assert reply["error"] == "no_such_interrupt"


async def test_input_sent_to_an_interrupted_thread_answers_its_interrupt(thread_id):
    await in_db(Thread.objects.filter(pk=thread_id).update, status="interrupted")
    async with Socket(thread_id) as socket:
        reply = await socket.call(
            "run.start", {"assistant_id": "approval", "input": "yes", "multitaskStrategy": "reject"}
        )

    run = await in_db(Run.objects.get, thread_id=thread_id)
    assert reply["type"] == "success"
    assert run.kwargs["command"] == {"resume": "yes"} and run.kwargs.get("input") is None


async def test_cancelling_a_run_that_is_not_active_names_it(thread_id):
    async with Socket(thread_id) as socket:
        reply = await socket.call("run.cancel", {"run_id": str(uuid.uuid4())})

    assert reply["error"] == "no_such_run"


async def test_pruning_a_thread_ends_its_followers_too(thread_id):
    async with Socket(thread_id) as socket:
        await socket.call("subscription.subscribe", {"channels": ["messages"]})
        await in_db(threads_prune, principal=local_principal(), thread_ids=[uuid.UUID(thread_id)])
        assert await closed_with(socket.ws) == 4404


@pytest.mark.parametrize(
    ("origin", "authenticated"), [(b"https://evil.example", False), (None, True)]
)
async def test_another_sites_page_cannot_use_the_users_ambient_credentials(
    thread_id, api_keys, origin, authenticated
):
    key = await keyed("acme", "alice")
    await in_db(_own_thread, thread_id, "acme")
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"host", b"agents.example")]
    headers += [(b"origin", origin)] if origin else []
    output = await answer_to_subscribe(thread_id, headers)

    assert (output["type"] == "websocket.send") is authenticated
    assert authenticated or output["code"] == 4401
