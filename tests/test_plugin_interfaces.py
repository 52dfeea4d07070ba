"""Declaring protocol plugins with lab.protocol_plugin, as plugin authors do."""

import sys
import types

import pytest
from twisted.internet.protocol import Factory
from twisted.plugin import IPlugin

import lab


def test_a_declaration_is_cheap_metadata_until_loaded():
    """A declaration names its module and transports without importing anything."""
    plugin = lab.protocol_plugin("lazy", "Lazy.", factory="labtest_never_imported:Factory",
                                 datagram="labtest_never_imported:Datagram")
    assert ("tcp", "udp") == plugin.transports
    assert "labtest_never_imported" == plugin.module
    assert "tcp:0" == plugin.default_endpoint
    assert IPlugin.providedBy(plugin) and lab.IProtocolPlugin.providedBy(plugin)


def test_a_class_may_be_given_instead_of_a_dotted_path():
    """A plugin written in a notebook can pass its factory class itself."""
    class HelloFactory(Factory):
        pass

    plugin = lab.protocol_plugin("hello", "Hello.", factory=HelloFactory)
    assert isinstance(plugin.build_factory(), HelloFactory)
    assert __name__ == plugin.module


def test_a_lone_required_name_is_one_name_not_its_letters():
    """requires='echo' means the plugin 'echo', not 'e', 'c', 'h', 'o'."""
    assert ("echo",) == lab.protocol_plugin("p", "P.", factory=dict, requires="echo").requires


def test_requires_that_are_not_names_are_refused():
    """A non-string in requires fails at declaration with an example of the right form."""
    with pytest.raises(ValueError, match=r"requires=\['echo'\]"):
        lab.protocol_plugin("p", "P.", factory=dict, requires=[lab])


def test_a_transport_not_declared_is_refused_by_name():
    """Building a UDP protocol from a TCP-only plugin says which transports it supports."""
    plugin = lab.protocol_plugin("tcp_only", "T.", factory=dict)
    with pytest.raises(ValueError, match="does not support udp; it supports tcp"):
        plugin.build_datagram()


def test_unload_forgets_the_implementation(monkeypatch):
    """After unload(), the next load resolves the dotted path again and sees a new factory."""
    module = types.ModuleType("labtest_swap")
    module.Factory = dict
    monkeypatch.setitem(sys.modules, "labtest_swap", module)
    plugin = lab.protocol_plugin("p", "P.", factory="labtest_swap:Factory")
    plugin.load()
    module.Factory = list
    assert {} == plugin.build_factory()
    plugin.unload()
    assert [] == plugin.build_factory()
