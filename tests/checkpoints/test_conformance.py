"""DjangoSaver against LangGraph's checkpointer conformance suite, on the configured database."""

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from apps.checkpoints.saver import DjangoSaver

ALL_CAPABILITIES = {
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
}


@checkpointer_test(name="DjangoSaver")
async def django_saver():
    yield DjangoSaver()


@pytest.mark.django_db(transaction=True)
async def test_saver_passes_every_capability_of_the_conformance_suite():
    report = await validate(django_saver)

    report.print_report()
    detected = {name for name, result in report.results.items() if result.detected}
    assert detected == ALL_CAPABILITIES
    assert report.passed_all(), report.to_dict()
    assert report.conformance_level() == "FULL"
