"""Building the store from a project file's ``store`` section."""

from __future__ import annotations

import uuid

import pytest

from apps.graphs.registry import registry
from apps.memory.store import DjangoStore, get_store
from apps.tenancy.models import DEFAULT_TENANT_ID
from tests.memory.embeddings import DIMS

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_TENANT_ID = uuid.UUID("7e1d0c7a-51f3-4c57-9d7a-1f6a4f0c2b11")

EMBED_FILE = """
def embed(texts):
    return [[float(len(text))] + [1.0] * 3 for text in texts]
"""


def test_no_store_section_gives_a_store_without_index_or_ttl():
    store = DjangoStore.from_project_config(None)
    assert store.index_config is None
    assert store.embeddings is None
    assert store.ttl_config is None


def test_a_store_section_configures_the_index_and_the_ttl():
    store = DjangoStore.from_project_config(
        {
            "index": {"dims": DIMS, "embed": "tests.memory.embeddings:embed", "fields": ["text"]},
            "ttl": {"default_ttl": 1.5, "refresh_on_read": False, "sweep_interval_minutes": 2},
        }
    )
    assert store.index_config["dims"] == DIMS
    assert store.index_config["fields"] == ["text"]
    assert store.ttl_config["default_ttl"] == 1.5
    assert store.ttl_config["refresh_on_read"] is False
    assert store.ttl_config["sweep_interval_minutes"] == 2


def test_refresh_on_read_defaults_to_true():
    store = DjangoStore.from_project_config({"ttl": {"default_ttl": 5}})
    assert store.ttl_config["refresh_on_read"] is True


def test_embed_can_name_a_function_in_a_file_relative_to_the_project(tmp_path):
    (tmp_path / "embedding.py").write_text(EMBED_FILE)
    store = DjangoStore.from_project_config(
        {"index": {"dims": 4, "embed": "./embedding.py:embed"}}, base_dir=tmp_path
    )
    assert store.embeddings.embed_query("abc") == [3.0, 1.0, 1.0, 1.0]
    store = store.for_tenant(DEFAULT_TENANT_ID)
    store.put(("docs",), "k", {"text": "hello"})
    (item,) = store.search(("docs",), query='{"text": "hello"}')  # "$": the whole value
    assert item.score == pytest.approx(1.0, abs=1e-6)


def test_embed_can_name_an_embeddings_object_in_a_module():
    store = DjangoStore.from_project_config(
        {"index": {"dims": DIMS, "embed": "tests.memory.embeddings:letters"}}
    )
    assert len(store.embeddings.embed_query("hello")) == DIMS


def test_embed_can_be_an_embeddings_object_or_a_function():
    from tests.memory.embeddings import embed, letters

    assert DjangoStore(index={"dims": DIMS, "embed": letters}).embeddings is letters
    assert DjangoStore(index={"dims": DIMS, "embed": embed}).embeddings.embed_query("a")


def test_a_provider_string_without_its_packages_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="openai:text-embedding-3-small"):
        DjangoStore.from_project_config(
            {"index": {"dims": 1536, "embed": "openai:text-embedding-3-small"}}
        )


@pytest.mark.parametrize(
    ("store_config", "message"),
    [
        ("not an object", "store must be an object"),
        ({"indexes": {}}, "store has unknown keys ['indexes']"),
        ({"index": []}, "store.index must be an object"),
        ({"index": {"embed": "tests.memory.embeddings:embed"}}, "store.index.dims"),
        ({"index": {"dims": 0, "embed": "tests.memory.embeddings:embed"}}, "store.index.dims"),
        ({"index": {"dims": "8", "embed": "tests.memory.embeddings:embed"}}, "store.index.dims"),
        ({"index": {"dims": True, "embed": "tests.memory.embeddings:embed"}}, "store.index.dims"),
        ({"index": {"dims": 8}}, "store.index.embed is required"),
        ({"index": {"dims": 8, "embed": 5}}, "store.index.embed must be"),
        ({"index": {"dims": 8, "embed": "./missing.py:embed"}}, "does not exist"),
        ({"index": {"dims": 8, "embed": "tests.memory.embeddings:nothing"}}, "no attribute"),
        ({"index": {"dims": 8, "embed": "tests.memory.embeddings:DIMS"}}, "not an Embeddings"),
        (
            {"index": {"dims": 8, "embed": "tests.memory.embeddings:embed", "fields": "text"}},
            "store.index.fields",
        ),
        (
            {"index": {"dims": 8, "embed": "tests.memory.embeddings:embed", "fields": [""]}},
            "store.index.fields",
        ),
        (
            {"index": {"dims": 8, "embed": "tests.memory.embeddings:embed", "model": "x"}},
            "store.index has unknown keys ['model']",
        ),
        ({"ttl": 5}, "store.ttl must be an object"),
        ({"ttl": {"default_ttl": -1}}, "store.ttl.default_ttl"),
        ({"ttl": {"default_ttl": "10"}}, "store.ttl.default_ttl"),
        ({"ttl": {"refresh_on_read": "yes"}}, "store.ttl.refresh_on_read"),
        ({"ttl": {"sweep_interval_minutes": 0}}, "store.ttl.sweep_interval_minutes"),
        ({"ttl": {"default_tll": 5}}, "store.ttl has unknown keys ['default_tll']"),
    ],
)
def test_a_bad_store_section_raises_a_value_error_naming_the_setting(store_config, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DjangoStore.from_project_config(store_config)


def test_get_store_binds_the_one_store_of_the_project_to_a_tenant(use_store_config):
    index = {"dims": DIMS, "embed": "tests.memory.embeddings:embed"}
    store = use_store_config({"index": index, "ttl": {"default_ttl": 5}})
    other = get_store(OTHER_TENANT_ID)
    assert (store.tenant_id, other.tenant_id) == (DEFAULT_TENANT_ID, OTHER_TENANT_ID)
    assert store.ttl_config["default_ttl"] == 5
    assert store.ttl_config is other.ttl_config is registry().store.ttl_config
    assert store.embeddings is other.embeddings is registry().store.embeddings


def test_the_project_store_is_bound_to_no_tenant_and_refuses_every_op():
    unbound = registry().store
    assert unbound.tenant_id is None
    for call in (
        lambda: unbound.put(("docs",), "a", {"n": 1}),
        lambda: unbound.get(("docs",), "a"),
        lambda: unbound.search(("docs",)),
        lambda: unbound.list_namespaces(),
        lambda: unbound.delete(("docs",), "a"),
        unbound.sweep_ttl,
    ):
        with pytest.raises(RuntimeError, match="bound to no tenant"):
            call()


def test_a_tenant_is_named_by_its_uuid():
    with pytest.raises(TypeError):
        DjangoStore().for_tenant(str(DEFAULT_TENANT_ID))


def test_get_store_resolves_embed_files_next_to_the_project_file(use_store_config, tmp_path):
    (tmp_path / "embedding.py").write_text(EMBED_FILE)
    store = use_store_config({"index": {"dims": 4, "embed": "embedding.py:embed"}}, root=tmp_path)
    assert store.embeddings.embed_query("ab") == [2.0, 1.0, 1.0, 1.0]


def test_without_a_store_section_get_store_gives_a_plain_store(use_store_config):
    assert use_store_config(None).index_config is None
