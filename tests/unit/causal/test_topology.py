"""The declared topology: validated, and every error names the file, the line and the field."""

from __future__ import annotations

import pytest

from setpoint.causal import DependencyGraph, load_topology
from setpoint.errors import TopologyFileError

GOOD = """\
version: 1
services:
  frontend:
    depends_on: [cart, catalogue]
    runs_on: node-1
  cart:
    depends_on: [carts-db]
    domain: shop
  carts-db: {kind: database, runs_on: node-1}
  catalogue: {}
  node-1: {kind: host}
"""


def test_a_valid_topology_builds_the_graph_with_infrastructure_and_domains() -> None:
    g = DependencyGraph.from_topology(load_topology(GOOD, "topology.yaml"))
    assert sorted(g.callees("frontend")) == ["cart", "catalogue", "node-1"]
    assert g.kind("carts-db") == "database"
    assert g.kind("node-1") == "host"
    # One connected component with one declared domain: everyone is in it.
    assert set(g.domains().values()) == {"shop"}


def test_an_undeclared_dependency_names_its_line_and_field() -> None:
    text = GOOD.replace("[carts-db]", "[carts-dbb]")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "topology.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("topology.yaml", 7, "services.cart.depends_on.0")
    assert "carts-dbb" in err.message
    assert err.message.startswith("topology.yaml:7: services.cart.depends_on.0:")
    assert err.code == "config.topology"


def test_an_unknown_field_names_its_line() -> None:
    text = GOOD.replace("    domain: shop\n", "    domian: shop\n")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "t.yaml")
    assert (info.value.line, info.value.field) == (8, "services.cart.domian")


def test_a_wrong_kind_names_its_line() -> None:
    text = GOOD.replace("{kind: host}", "{kind: hots}")
    with pytest.raises(TopologyFileError) as info:
        load_topology(text, "t.yaml")
    assert (info.value.line, info.value.field) == (11, "services.node-1.kind")


def test_invalid_yaml_names_its_line() -> None:
    with pytest.raises(TopologyFileError) as info:
        load_topology("services:\n  api: [unclosed\n  db: {}\n", "t.yaml")
    assert info.value.line == 3
    assert "not valid YAML" in info.value.message


def test_an_empty_file_is_reported_not_crashed_on() -> None:
    with pytest.raises(TopologyFileError) as info:
        load_topology("", "t.yaml")
    assert info.value.field == "services"
