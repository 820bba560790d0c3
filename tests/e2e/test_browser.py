"""The chat page at /ui/chat in headless Chromium (Debian's, never a downloaded build), driven
through Playwright as a user drives it: streamed tokens, an interrupt answered, double-texting,
API keys, and a reconnect that resumes where it left off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Playwright's expect() polls with this deadline; a run on a cold worker can take seconds.
TIMEOUT_MS = 30_000
SLOW = {"target": 400, "delay": 0.05}  # 20 s of steps: always superseded by the test first


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser context; its last view is saved as ``tmp_path/chat.png``."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    screenshot = tmp_path / "chat.png"
    opened.screenshot(path=screenshot, full_page=True)
    print(f"screenshot: {screenshot}")
    context.close()


def open_chat(page: Page, url: str, *, connected: bool = True) -> None:
    page.goto(f"{url}/ui/chat")
    expect(page.get_by_test_id("thread-id")).not_to_be_empty()
    if connected:
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def send(
    page: Page,
    message: str = "",
    *,
    assistant: str = "agent",
    strategy: str = "enqueue",
    input: dict | None = None,
) -> None:
    page.get_by_test_id("assistant").fill(assistant)
    page.get_by_test_id("strategy").select_option(strategy)
    if input is not None:
        json_input = page.get_by_test_id("input-json")
        if not json_input.is_visible():
            page.get_by_text("Input as JSON").click()
        json_input.fill(json.dumps(input))
    page.get_by_test_id("message-input").fill(message)
    page.get_by_test_id("send").click()


def expect_status(page: Page, state: str) -> str:
    """Wait for the status line to show ``state``; the run id it shows."""
    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-state", state, timeout=TIMEOUT_MS)
    return status.get_attribute("data-run-id") or ""


def texts(page: Page, role: str):
    return page.locator(f"[data-testid=message][data-role={role}] [data-testid=message-text]")


def ai_text(page: Page):
    return texts(page, "ai")


def test_the_page_is_a_public_get_only_file_with_a_strict_policy(secured):
    page = httpx.get(f"{secured.url}/ui/chat")
    script = httpx.get(f"{secured.url}/ui/chat.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self' ws: wss:" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert httpx.post(f"{secured.url}/ui/chat").status_code == 405
    assert httpx.get(f"{secured.url}/ui/settings.py").status_code == 404
    assert httpx.get(f"{secured.url}/threads/search").status_code == 401  # the API is not public


def test_tokens_stream_into_the_transcript_and_the_run_completes(page, deployment):
    open_chat(page, deployment.url)

    send(page, "hi")

    expect(ai_text(page)).to_have_text("Hello from the agent.")
    run_id = expect_status(page, "completed")
    expect(page.get_by_test_id("status")).to_contain_text(run_id)
    expect(texts(page, "user")).to_have_text("hi")
    # Appended delta by delta (one text node each), not set once from the final state.
    assert ai_text(page).evaluate("node => node.childNodes.length") > 1
    expect(page.get_by_test_id("error")).to_be_empty()


def test_an_interrupt_is_shown_and_answered_from_the_page(page, deployment):
    open_chat(page, deployment.url)

    send(page, assistant="approval", input={"request": "the refund"})

    expect(page.get_by_test_id("interrupt-payload")).to_contain_text("Approve the refund?")
    expect_status(page, "interrupted")
    page.get_by_test_id("answer").fill("yes")
    page.get_by_test_id("answer-send").click()
    expect_status(page, "completed")
    expect(page.get_by_test_id("interrupt")).to_be_hidden()
    expect(page.get_by_test_id("values")).to_contain_text('"decision": "yes"')


def test_double_texting_rejects_while_busy_then_interrupts_the_first_run(page, deployment):
    open_chat(page, deployment.url)
    send(page, assistant="slow", input=SLOW)
    first = expect_status(page, "running")

    send(page, assistant="slow", strategy="reject", input={"target": 1})
    expect(page.get_by_test_id("error")).to_contain_text("already running")
    assert expect_status(page, "running") == first

    send(page, assistant="slow", strategy="interrupt", input={"target": 1})
    second = expect_status(page, "completed")
    assert second != first
    superseded = page.locator(f"[data-testid=run][data-run-id='{first}']")
    expect(superseded).to_have_attribute("data-state", "interrupted")
    expect(superseded).to_contain_text("superseded")
    expect(page.get_by_test_id("run")).to_have_count(2)


def test_the_cancel_button_cancels_the_active_run(page, deployment):
    open_chat(page, deployment.url)
    send(page, assistant="slow", input=SLOW)
    expect_status(page, "running")

    page.get_by_test_id("cancel").click()

    expect_status(page, "failed")
    expect(page.get_by_test_id("status")).to_contain_text("cancelled")
    expect(page.get_by_test_id("error")).to_be_empty()


def test_with_auth_on_the_socket_refuses_a_page_without_a_key(page, secured):
    open_chat(page, secured.url, connected=False)

    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "refused")
    expect(page.get_by_test_id("connection")).to_contain_text("auth error")


def test_with_auth_on_the_page_sends_its_key_and_keeps_it_for_the_session(page, secured):
    key = secured.api_key(tenant="acme", user="carol", role="member")
    open_chat(page, secured.url, connected=False)
    page.get_by_test_id("api-key").fill(key)
    page.get_by_test_id("connect").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    send(page, "hi")
    expect(ai_text(page)).to_have_text("Hello from the agent.")
    expect_status(page, "completed")

    page.reload()  # same thread (?thread=), same key (sessionStorage): the run is replayed
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(ai_text(page)).to_have_text("Hello from the agent.")
    expect_status(page, "completed")


def test_after_a_dropped_socket_the_page_resumes_since_the_last_event_seen(page, deployment):
    sockets: list[WebSocketRoute] = []
    subscribes: list[dict] = []

    def through(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()

        def to_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["method"] == "subscription.subscribe":
                subscribes.append(frame["params"])
            server.send(message)

        socket.on_message(to_server)
        sockets.append(socket)

    page.route_web_socket("**/stream/events", through)
    open_chat(page, deployment.url)
    send(page, "hi")
    expect_status(page, "completed")

    sockets[-1].close(code=1012, reason="server restart")
    expect(page.get_by_test_id("connection")).to_contain_text("resumed after event")
    send(page, "again")

    expect(ai_text(page)).to_have_count(2)
    expect_status(page, "completed")
    expect(page.get_by_test_id("message")).to_have_count(4)  # nothing replayed twice
    assert "since" not in subscribes[0]
    assert subscribes[-1]["since"] > 0
