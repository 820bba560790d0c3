"""Loading a project file and its graphs."""

import json

import pytest

from apps.graphs.config import ProjectError, load_project
from apps.graphs.registry import Registry, default_assistant_id


def write_project(tmp_path, config: dict, files: dict[str, str] | None = None):
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return load_project(tmp_path / "langgraph.json")


GRAPH_FILE = """
from typing import TypedDict
from langgraph.graph import StateGraph, START

class S(TypedDict):
    x: int

builder = StateGraph(S)
builder.add_node("n", lambda s: {"x": s["x"] + 1})
builder.add_edge(START, "n")
graph = builder.compile()
"""


def test_the_default_assistant_id_is_the_reference_servers_uuid5():
    assert str(default_assistant_id("agent")) == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


def test_a_project_reads_graphs_env_and_ttl(tmp_path):
    (tmp_path / ".env").write_text("# comment\nexport API_TOKEN='secret'\nPLAIN=1\n")
    project = write_project(
        tmp_path,
        {
            "graphs": {"g": "./g.py:graph", "h": {"path": "pkg.mod:graph", "description": "H"}},
            "env": ".env",
            "checkpointer": {"ttl": {"strategy": "keep_latest", "default_ttl": 60}},
            "python_version": "3.11",
        },
    )
    assert project.graphs["h"].description == "H"
    assert project.env == {"API_TOKEN": "secret", "PLAIN": "1"}
    assert project.checkpoint_ttl == {"strategy": "keep_latest", "default_ttl": 60}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'graphs' must be an object"),
        ({"graphs": {"g": "no-colon"}}, "graph 'g': expected"),
        ({"graphs": {"g": "./g.py:graph"}, "env": 3}, "'env' must be"),
        ({"graphs": {"g": "./g.py:graph"}, "env": "missing.env"}, "does not exist"),
        ({"graphs": {"g": "./g.py:graph"}, "checkpointer": {"path": "x.py:y"}}, "not supported"),
        (
            {"graphs": {"g": "./g.py:graph"}, "checkpointer": {"ttl": {"strategy": "sometimes"}}},
            "strategy",
        ),
    ],
)
def test_a_broken_project_file_is_a_one_line_error(tmp_path, config, message):
    with pytest.raises(ProjectError, match=message):
        write_project(tmp_path, config)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "langgraph.json").write_text("{")
    with pytest.raises(ProjectError, match="not valid JSON"):
        load_project(tmp_path)


def test_a_graph_that_fails_to_import_is_named_in_the_error(tmp_path):
    project = write_project(
        tmp_path,
        {"graphs": {"broken": "./broken.py:graph"}},
        {"broken.py": "import not_a_real_module\n"},
    )
    with pytest.raises(ProjectError, match=r"graph 'broken' failed to import .*not_a_real_module"):
        Registry(project).load_all()


def test_a_missing_attribute_or_file_is_named_in_the_error(tmp_path):
    project = write_project(
        tmp_path,
        {"graphs": {"g": "./g.py:nope", "h": "./missing.py:graph"}},
        {"g.py": GRAPH_FILE},
    )
    registry = Registry(project)
    with pytest.raises(ProjectError, match=r"graph 'g': .* has no attribute 'nope'"):
        registry.loaded("g")
    with pytest.raises(ProjectError, match=r"graph 'h': file .* does not exist"):
        registry.loaded("h")


def test_something_that_is_not_a_graph_is_refused(tmp_path):
    project = write_project(tmp_path, {"graphs": {"g": "./g.py:value"}}, {"g.py": "value = 3\n"})
    with pytest.raises(ProjectError, match="is a int, not a graph"):
        Registry(project).loaded("g")


async def test_a_factory_receives_the_config_and_may_be_a_context_manager(tmp_path):
    factory = (
        GRAPH_FILE
        + """
import contextlib

seen = []

def make(config):
    seen.append(config["configurable"]["who"])
    return graph

@contextlib.asynccontextmanager
async def managed():
    yield builder
"""
    )
    project = write_project(
        tmp_path, {"graphs": {"f": "./f.py:make", "m": "./f.py:managed"}}, {"f.py": factory}
    )
    registry = Registry(project)
    async with registry.graph("f", {"configurable": {"who": "ada"}}) as graph:
        assert (await graph.ainvoke({"x": 1})) == {"x": 2}
    async with registry.graph("m") as graph:
        assert (await graph.ainvoke({"x": 5})) == {"x": 6}
    assert registry.loaded("f").is_factory
