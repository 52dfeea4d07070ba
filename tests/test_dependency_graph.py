"""The registry's one dependency graph: order, cycles and layers, computed with graphlib."""

import pytest

import lab
from lab.plugin import DependencyGraph

GRAPH = DependencyGraph({
    "app": ("auth", "db"), "auth": ("db",), "db": (),
    "x": ("y",), "y": ("x",), "z": ("x",),
    "me": ("me",),
    "web": ("ldap",),
    "alone": (),
})


def test_order_puts_dependencies_first():
    """order() lists everything a name requires before it, and nothing it does not need."""
    assert ["db", "auth", "app"] == GRAPH.order("app")


def test_order_names_a_missing_dependency_by_its_chain():
    """A missing requirement raises MissingDependency with the chain to it."""
    with pytest.raises(lab.MissingDependency, match="web -> ldap") as raised:
        GRAPH.order(["web"])
    assert ("web", "ldap") == raised.value.chain


def test_order_names_a_cycle_from_the_requested_plugin():
    """A loop raises DependencyCycle starting at the plugin asked for, or where it reaches the loop."""
    with pytest.raises(lab.DependencyCycle) as raised:
        GRAPH.order("y")
    assert ("y", "x", "y") == raised.value.chain
    with pytest.raises(lab.DependencyCycle):
        GRAPH.order("z")


def test_order_of_an_unknown_name_is_a_plugin_error():
    """A name that is no plugin raises PluginError with the closest known name."""
    with pytest.raises(lab.PluginError, match="Did you mean 'auth'"):
        GRAPH.order("autj")


def test_cycles_edges_and_missing():
    """cycles() lists each loop once, cycle_edges() their edges, missing() the names nobody provides."""
    assert [("me", "me"), ("x", "y", "x")] == GRAPH.cycles()
    assert {("me", "me"), ("x", "y"), ("y", "x")} == GRAPH.cycle_edges()
    assert ["ldap"] == GRAPH.missing()


def test_layers_place_each_name_right_of_its_deepest_requirement():
    """layers() puts requirement-free names first and each other name one right of its deepest need."""
    layers = GRAPH.layers()
    column = {n: i for i, layer in enumerate(layers) for n in layer}
    assert set(column) == set(GRAPH.nodes())
    assert (0, 1, 2) == (column["db"], column["auth"], column["app"])
    assert column["web"] == column["ldap"] + 1
    assert column["z"] > column["x"]
