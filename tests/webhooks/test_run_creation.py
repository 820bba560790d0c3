"""A run's webhook URL is checked when the run is created: one the policy refuses is a 422
that names the problem, and nothing is written."""

import pytest

from apps.runs.models import Run
from apps.threads.models import Thread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("assistants")]


@pytest.fixture
def thread_id(api) -> str:
    return api.post("/threads", {}, format="json").json()["thread_id"]


@pytest.mark.parametrize(
    ("webhook", "problem"),
    [
        ("http://10.0.0.7/hook", "resolves to 10.0.0.7, a private address"),
        ("http://localhost:9000/hook", "a loopback address"),
        ("http://[::1]/hook", "::1, a loopback address"),
        ("http://169.254.169.254/latest", "a cloud metadata address"),
        ("ftp://example.com/hook", "must use http or https"),
        ("/relative/hook", "Relative webhook URLs are not supported"),
    ],
)
def test_a_run_with_a_refused_webhook_is_not_created(api, thread_id, webhook, problem):
    answer = api.post(
        f"/threads/{thread_id}/runs",
        {"assistant_id": "agent", "webhook": webhook},
        format="json",
    )

    assert answer.status_code == 422
    assert problem in answer.json()["detail"]
    assert not Run.objects.exists()
    assert Thread.objects.get(pk=thread_id).status == "idle"


def test_a_stateless_run_with_a_refused_webhook_leaves_no_thread_behind(api):
    answer = api.post(
        "/runs/wait", {"assistant_id": "agent", "webhook": "http://10.0.0.7/"}, format="json"
    )

    assert answer.status_code == 422
    assert not Run.objects.exists()
    assert not Thread.objects.exists()


def test_a_webhook_the_policy_allows_is_kept_on_the_run(api, thread_id, loopback_allowed):
    answer = api.post(
        f"/threads/{thread_id}/runs",
        {"assistant_id": "agent", "webhook": "http://127.0.0.1:9/hook", "after_seconds": 60},
        format="json",
    )

    assert answer.status_code == 200
    assert answer.json()["kwargs"]["webhook"] == "http://127.0.0.1:9/hook"
