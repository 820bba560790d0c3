"""With API keys on, the official SDK works with a key, each tenant's runs act for their
caller, and per-user memory stays in the caller's tenant."""

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import AuthenticationError, NotFoundError


@pytest.fixture(scope="module")
def keys(secured) -> dict[str, str]:
    return {
        "alice": secured.api_key(tenant="acme", user="alice", role="member"),
        "bob": secured.api_key(tenant="globex", user="bob", role="member"),
    }


def sdk(secured, key: str | None):
    return get_client(url=secured.url, api_key=key)


async def test_the_sdk_without_a_key_is_refused(secured):
    with pytest.raises(AuthenticationError):
        await sdk(secured, None).threads.create()


async def test_a_run_acts_for_its_caller_and_remembers_in_the_callers_tenant(secured, keys):
    alice, bob = sdk(secured, keys["alice"]), sdk(secured, keys["bob"])

    first = await alice.runs.wait(None, "whoami", input={})
    second = await alice.runs.wait(None, "whoami", input={})
    bobs = await bob.runs.wait(None, "whoami", input={})

    assert (first["identity"], first["remembered"]) == ("alice", 1)
    assert (second["identity"], second["remembered"]) == ("alice", 1)  # one key, overwritten
    assert (bobs["identity"], bobs["remembered"]) == ("bob", 1)
    assert first["tenant_id"] != bobs["tenant_id"]
    assert await alice.store.get_item(("memories", "alice"), "last_run") is not None
    assert await bob.store.get_item(("memories", "alice"), "last_run") is None


async def test_another_tenants_thread_is_not_found_through_the_sdk(secured, keys):
    alice, bob = sdk(secured, keys["alice"]), sdk(secured, keys["bob"])
    thread = await alice.threads.create(metadata={"secret": "plans"})

    with pytest.raises(NotFoundError):
        await bob.threads.get(thread["thread_id"])
    assert await bob.threads.search(metadata={"secret": "plans"}) == []
    assert [t["thread_id"] for t in await alice.threads.search(metadata={"secret": "plans"})] == [
        thread["thread_id"]
    ]
