"""The thread-centric streaming protocol through langgraph-sdk's ``client.threads.stream``
("v3"), over SSE and over the websocket, against a real server."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from apps.streams.protocol import CHANNELS
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

ALL_CHANNELS = sorted(CHANNELS)
HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["sse", "websocket"])
def transport(request) -> str:
    return request.param


async def test_a_run_streams_its_tokens_and_ends_with_the_threads_state(client, transport):
    async with client.threads.stream(assistant_id="agent", transport=transport) as thread:
        started = await thread.run.start(input=HI)
        streams = [stream async for stream in thread.messages]
        output = await thread.output

    assert uuid.UUID(started["run_id"])
    assert [await stream.text for stream in streams] == ["Hello from the agent."]
    assert streams[0].node == "agent"
    assert output["messages"][-1]["content"] == "Hello from the agent."
    assert output["steps"] == ["agent", "finish"]


async def test_values_start_from_the_stored_state_and_follow_each_step(client, transport):
    async with client.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input=HI)
        snapshots = [values async for values in thread.values]

    # The first is the stored state when the projection opened; then one per step, in order.
    streamed = [len(values.get("steps", [])) for values in snapshots[1:]]
    assert streamed == sorted(streamed) and snapshots[-1]["steps"] == ["agent", "finish"]


async def test_tool_calls_stream_their_arguments_and_resolve_with_the_tools_output(
    client, transport
):
    async with client.threads.stream(assistant_id="researcher", transport=transport) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "Paris?"}]})
        calls = [call async for call in thread.tool_calls]
        output = await thread.output

    assert [(call.name, call.tool_call_id) for call in calls] == [("lookup", "call-lookup-1")]
    result = await calls[0].output
    assert "sunny in Paris" in str(result)
    assert output["messages"][-1]["content"] == "The weather: sunny in Paris."


async def test_a_streamed_message_carries_its_tool_calls_under_the_providers_id(client):
    async with client.threads.stream(assistant_id="researcher") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "Paris?"}]})
        streams = [stream async for stream in thread.messages]

    first = await streams[0].output
    assert first.id.startswith("msg-")
    assert first.tool_calls == [
        {"name": "lookup", "args": {"city": "Paris"}, "id": "call-lookup-1", "type": "tool_call"}
    ]
    assert [await stream.text for stream in streams] == [
        "Let me look that up.",
        "The weather: sunny in Paris.",
    ]


async def test_an_interrupt_is_announced_and_answered_in_the_same_session(client, transport):
    async with client.threads.stream(assistant_id="approval", transport=transport) as thread:
        await thread.run.start(input={"request": "deploy"})
        await eventually(lambda: thread.interrupted, timeout=30, what="the interrupt")
        assert thread.interrupts[0]["value"] == {"question": "Approve deploy?"}
        await thread.run.respond("yes")
        output = await thread.output

    assert output == {"request": "deploy", "decision": "yes"}


async def test_a_cancelled_run_fails_the_sessions_output(client, transport):
    async with client.threads.stream(assistant_id="slow", transport=transport) as thread:
        run = await thread.run.start(input={"target": 100, "delay": 0.1})
        await eventually(
            lambda: _status_is(client, thread.thread_id, run["run_id"], "running"),
            what="the run to start",
        )
        await client.runs.cancel(thread.thread_id, run["run_id"])
        with pytest.raises(RuntimeError, match="cancelled"):
            await thread.output


async def test_subgraphs_are_discovered_with_their_own_messages(client, transport):
    async with client.threads.stream(assistant_id="team", transport=transport) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "Paris?"}]})
        handles = [handle async for handle in thread.subgraphs]
        output = await thread.output

    assert [handle.graph_name for handle in handles] == ["researcher"]
    assert output["messages"][-1]["content"] == "The weather: sunny in Paris."


async def test_the_agent_tree_shows_the_latest_run_and_its_subgraphs(client, http_async):
    async with client.threads.stream(assistant_id="team") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "Paris?"}]})
        await thread.output
    command = {"id": 1, "method": "agent.getTree", "params": {}}

    reply = (await http_async.post(f"/threads/{thread.thread_id}/commands", json=command)).json()

    tree = reply["result"]["tree"]
    assert (tree["namespace"], tree["graph_name"], tree["status"]) == ([], "team", "completed")
    [child] = tree["children"]
    assert (child["graph_name"], child["status"]) == ("researcher", "completed")
    assert child["namespace"][0].startswith("researcher:")


async def test_named_custom_events_reach_their_extension(client, transport):
    async with client.threads.stream(assistant_id="progress", transport=transport) as thread:
        await thread.run.start(input={})
        progress = [item async for item in thread.extensions["progress"]]

    assert [item["payload"]["percent"] for item in progress] == [25, 50, 100]


async def test_a_dropped_connection_resumes_without_gaps_or_repeats(server_url):
    breaker = Breaker(after_chunks=12)
    async with httpx.AsyncClient(base_url=server_url, transport=breaker, timeout=30) as http:
        client = LangGraphClient(http)
        async with client.threads.stream(assistant_id="researcher") as thread:
            await thread.run.start(input={"messages": [{"role": "user", "content": "Paris?"}]})
            events = []
            async for event in thread.subscribe(ALL_CHANNELS):
                events.append(event)

    assert breaker.broken, "the first event stream was cut"
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "every event, once, in order"
    assert len({event["event_id"] for event in events}) == len(events)
    assert events[-1]["method"] == "lifecycle"
    assert events[-1]["params"]["data"]["event"] == "completed"


async def test_a_stream_opened_with_since_replays_exactly_what_came_after(client, http_async):
    async with client.threads.stream(assistant_id="agent") as thread:
        await thread.run.start(input=HI)
        await thread.output
    everything = await read_events(http_async, thread.thread_id, {"channels": ALL_CHANNELS})
    middle = everything[len(everything) // 2]["seq"]

    rest = await read_events(
        http_async, thread.thread_id, {"channels": ALL_CHANNELS, "since": middle}
    )

    assert [event["seq"] for event in rest] == [e["seq"] for e in everything if e["seq"] > middle]


async def test_one_subscription_follows_every_run_on_the_thread(client, http_async):
    thread_id = str(uuid.uuid4())
    filter = {"channels": ["lifecycle"], "namespaces": [[]], "depth": 0}
    url = f"/threads/{thread_id}/stream/events"
    await client.threads.create(thread_id=thread_id)
    ended = []

    async def follow() -> None:
        async with http_async.stream("POST", url, json=filter) as response:
            async for event in events_of(response):
                if event["params"]["data"]["event"] == "completed":
                    ended.append(event["params"]["data"]["run_id"])
                    if len(ended) == 2:
                        return

    follower = asyncio.ensure_future(follow())
    first = await client.runs.wait(thread_id, "agent", input=HI)
    second = await client.runs.wait(thread_id, "agent", input=HI)
    await asyncio.wait_for(follower, 30)

    assert first and second and len(set(ended)) == 2


async def test_a_secured_socket_needs_a_key_and_stays_in_its_tenant(secured):
    alice = secured.api_key(tenant="acme", user="alice", role="member")
    mallory = secured.api_key(tenant="globex", user="mallory", role="member")
    client = get_client(url=secured.url, api_key=alice)
    async with client.threads.stream(
        assistant_id="agent", transport="websocket", headers={"x-api-key": alice}
    ) as thread:
        await thread.run.start(input=HI)
        assert (await thread.output)["steps"] == ["agent", "finish"]

    for headers in ({}, {"x-api-key": mallory}):
        outsider = get_client(url=secured.url, api_key=headers.get("x-api-key"))
        async with outsider.threads.stream(
            thread.thread_id, assistant_id="agent", transport="websocket", headers=headers
        ) as theirs:
            with pytest.raises(Exception):  # noqa: B017 - refused before any event
                await asyncio.wait_for(_first_event(theirs), 15)


async def test_commands_refuse_whoever_may_not_run_on_the_thread(secured):
    owner = secured.api_key(tenant="acme", user="olive", role="owner")
    viewer = secured.api_key(tenant="acme", user="victor", role="viewer")
    outsider = secured.api_key(tenant="globex", user="oscar", role="owner")
    thread = await get_client(url=secured.url, api_key=owner).threads.create()
    command = {"id": 1, "method": "run.start", "params": {"assistant_id": "agent", "input": HI}}

    async def send(key: str | None) -> httpx.Response:
        headers = {"x-api-key": key} if key else {}
        async with httpx.AsyncClient(base_url=secured.url, headers=headers) as http:
            return await http.post(f"/threads/{thread['thread_id']}/commands", json=command)

    as_viewer, as_outsider, anonymous = await send(viewer), await send(outsider), await send(None)

    assert (as_viewer.status_code, as_viewer.json()["error"]) == (200, "permission_denied")
    assert as_outsider.status_code == 200 and as_outsider.json()["type"] == "error"
    assert anonymous.status_code == 401
    runs = await get_client(url=secured.url, api_key=owner).runs.list(thread["thread_id"])
    assert runs == []


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
async def http_async(server_url):
    async with httpx.AsyncClient(base_url=server_url, timeout=30) as session:
        yield session


async def _status_is(client, thread_id: str, run_id: str, status: str) -> bool:
    return (await client.runs.get(thread_id, run_id))["status"] == status


async def _first_event(thread):
    async for event in thread.subscribe(["lifecycle", "values"]):
        return event
    raise RuntimeError("the stream ended without an event")


async def events_of(response: httpx.Response):
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            data = orjson.loads(line[6:])
            if data.get("type") == "event":
                yield data


async def read_events(http: httpx.AsyncClient, thread_id: str, body: dict) -> list[dict]:
    """The thread's events for ``body`` up to its latest run's root terminal."""
    events = []
    async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        assert response.status_code == 200
        async for event in events_of(response):
            events.append(event)
            root = event["method"] == "lifecycle" and not event["params"]["namespace"]
            if root and event["params"]["data"]["event"] in ("completed", "failed", "interrupted"):
                return events
    return events


class Breaker(httpx.AsyncBaseTransport):
    """Loopback HTTP that cuts the first all-channel ``stream/events`` response (the shared
    stream, not the lifecycle watcher's) after some chunks, as a dropped connection does."""

    def __init__(self, after_chunks: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.after_chunks = after_chunks
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        shared = request.url.path.endswith("/stream/events") and b'"updates"' in request.content
        if self.broken or not shared:
            return response
        self.broken = True
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=CutStream(response.stream, self.after_chunks),
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class CutStream(httpx.AsyncByteStream):
    def __init__(self, inner, after_chunks: int) -> None:
        self.inner, self.after_chunks = inner, after_chunks

    async def __aiter__(self):
        sent = 0
        async for chunk in self.inner:
            yield chunk
            sent += 1
            if sent >= self.after_chunks:
                raise httpx.ReadError("connection dropped (test)")

    async def aclose(self) -> None:
        await self.inner.aclose()
