"""Assistant verbs beyond what the HTTP tests show."""

import pytest

from apps.graphs.models import Assistant, AssistantVersion
from apps.graphs.registry import registry
from apps.graphs.services import assistant_create, assistant_delete, assistants_sync_defaults
from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.tenancy.principal import local_principal
from apps.threads.models import Thread

LOCAL = local_principal()

pytestmark = pytest.mark.django_db(transaction=True)


def test_deleting_with_delete_threads_removes_the_assistants_threads_only():
    assistant = assistant_create(principal=LOCAL, graph_id="agent")
    mine = Thread.objects.create(
        tenant_id=DEFAULT_TENANT_ID, metadata={"assistant_id": str(assistant.assistant_id)}
    )
    other = Thread.objects.create(
        tenant_id=DEFAULT_TENANT_ID, metadata={"assistant_id": "someone-else"}
    )

    assistant_delete(principal=LOCAL, assistant_id=assistant.assistant_id, delete_threads=True)

    assert not Thread.objects.filter(pk=mine.pk).exists()
    assert Thread.objects.filter(pk=other.pk).exists()
    assert not AssistantVersion.objects.filter(assistant_id=assistant.assistant_id).exists()


def test_syncing_default_assistants_twice_keeps_one_each_and_resyncs_names():
    assistants_sync_defaults()
    Assistant.objects.filter(graph_id="nested").update(name="renamed by hand")
    assistants_sync_defaults()
    nested = Assistant.objects.get(graph_id="nested")
    assert nested.name == "Nested graph"
    assert Assistant.objects.filter(metadata__created_by="system").count() == len(
        registry().graph_ids
    )
