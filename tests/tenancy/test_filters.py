"""The auth handlers' metadata filters select the same threads on PostgreSQL and SQLite."""

import pytest

from apps.tenancy.filters import check_filters, metadata_filter
from apps.tenancy.models import DEFAULT_TENANT_ID
from apps.threads.models import Thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def threads():
    rows = {
        "alice": {"owner": "alice", "tags": ["red", "blue"], "level": 2},
        "bob": {"owner": "bob", "tags": ["blue"], "level": 3},
        "shared": {"owner": "carol", "tags": [{"team": "x"}, "green"], "public": True},
        "bare": {},
    }
    return {
        name: Thread.objects.create(tenant_id=DEFAULT_TENANT_ID, metadata=metadata).pk
        for name, metadata in rows.items()
    }


def matching(threads, filters) -> set[str]:
    ids = set(Thread.objects.filter(metadata_filter(filters)).values_list("pk", flat=True))
    return {name for name, pk in threads.items() if pk in ids}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"owner": "alice"}, {"alice"}),
        ({"owner": {"$eq": "bob"}}, {"bob"}),
        ({"level": 3}, {"bob"}),
        ({"public": True}, {"shared"}),
        ({"tags": {"$contains": "blue"}}, {"alice", "bob"}),
        ({"tags": {"$contains": ["red", "blue"]}}, {"alice"}),
        ({"tags": {"$contains": {"team": "x"}}}, {"shared"}),
        ({"tags": {"$contains": "purple"}}, set()),
        ({"owner": "alice", "tags": {"$contains": "blue"}}, {"alice"}),
        ({"$or": [{"owner": "alice"}, {"public": True}]}, {"alice", "shared"}),
        ({"$and": [{"tags": {"$contains": "blue"}}, {"level": 3}]}, {"bob"}),
        (
            {"$or": [{"owner": "bob"}, {"$and": [{"owner": "alice"}, {"level": 2}]}]},
            {"alice", "bob"},
        ),
        ({"key with 'quotes' and __dunders__": "x"}, set()),
    ],
)
def test_a_filter_selects_exactly_the_matching_threads(threads, filters, expected):
    assert matching(threads, filters) == expected


@pytest.mark.parametrize(
    "filters",
    [
        ["owner"],
        {"owner": {"$regex": "a.*"}},
        {"$or": []},
        {"$or": ["owner"]},
        {"$or": [{"$or": [{"$or": [{"$or": [{"a": 1}]}]}]}]},
    ],
)
def test_a_malformed_filter_is_rejected(filters):
    with pytest.raises(ValueError):
        check_filters(filters)
