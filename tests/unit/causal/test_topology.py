"""The declared topology: validated, and every error names the file, the line and the field."""

from __future__ import annotations

import pytest

from setpoint.causal import DependencyGraph, Diagnoser, Topology, load_topology
from setpoint.errors import TopologyFileError

GOOD = """\
services:
  - name: frontend
    tier: 1
    depends_on: [cart, catalogue]
    runs_on: node-1
  - name: cart
    depends_on: [carts-db]
    domain: shop
  - {name: carts-db, kind: database, runs_on: node-1}
  - {name: catalogue}
  - {name: node-1, kind: host}
"""


def test_a_valid_topology_builds_the_graph_with_infrastructure_and_domains() -> None:
    top = load_topology(GOOD, "topology.yaml")
    assert top.services[0].tier == 1
    g = DependencyGraph.from_topology(top)
    assert sorted(g.callees("frontend")) == ["cart", "catalogue", "node-1"]
    assert g.kind("carts-db") == "database"
    assert g.kind("node-1") == "host"
    # One connected component with one declared domain: everyone is in it.
    assert set(top.domains().values()) == {"shop"}


def test_the_diagnoser_takes_the_topology_as_a_networkx_graph_too() -> None:
    diag = Diagnoser(Topology.from_text(GOOD, "topology.yaml").graph())
    assert diag.graph.kind("node-1") == "host"
    assert sorted(diag.graph.descendants("frontend", 1)) == ["cart", "catalogue", "node-1"]


def test_an_undeclared_dependency_names_its_line_and_field() -> None:
    text = GOOD.replace("[carts-db]", "[carts-dbb]")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "topology.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("topology.yaml", 7, "services.1.depends_on.0")
    assert "carts-dbb" in err.message
    assert err.message.startswith("topology.yaml:7: services.1.depends_on.0:")
    assert err.code == "config.topology"


def test_an_unknown_field_names_its_line() -> None:
    text = GOOD.replace("    domain: shop\n", "    domian: shop\n")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "t.yaml")
    assert (info.value.line, info.value.field) == (8, "services.1.domian")


def test_a_wrong_kind_names_its_line() -> None:
    text = GOOD.replace("kind: host}", "kind: hots}")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "t.yaml")
    assert (info.value.line, info.value.field) == (11, "services.4.kind")


def test_a_node_declared_twice_names_its_line() -> None:
    with pytest.raises(TopologyFileError) as info:
        load_topology(GOOD + "  - {name: cart}\n", "t.yaml")
    assert (info.value.line, info.value.field) == (12, "services.5.name")
    assert "declared twice" in info.value.message


def test_invalid_yaml_names_its_line() -> None:
    with pytest.raises(TopologyFileError) as info:
        load_topology("services:\n  - name: [unclosed\n  - name: db\n", "t.yaml")
    assert info.value.line == 3
    assert "not valid YAML" in info.value.message


def test_an_empty_file_is_an_empty_topology() -> None:
    assert load_topology("", "t.yaml").services == []
