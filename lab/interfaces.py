"""The interfaces a lab plugin provides, and a one-statement way to declare one.

A lab plugin is a Twisted plugin: a module-level object in a plugin package
(``lab/dropins/`` or a folder the user names) that provides
``twisted.plugin.IPlugin`` and :class:`ILabPlugin`.  Protocol plugins also
provide :class:`IProtocolPlugin`.

The plugin object is cheap metadata, like ``twistd``'s ``ServiceMaker``: the
module that implements the protocol is imported only by :meth:`load`, so
discovering plugins never imports their implementations.

    from lab import protocol_plugin
    echo = protocol_plugin(
        "echo", "Writes every byte back to its sender.",
        factory="lab.adapters.echo:EchoFactory",
        datagram="lab.adapters.echo:EchoDatagram",
    )

A plugin written in a notebook may pass the class itself (``factory=HelloFactory``)
instead of a dotted path: its module is then already imported, which is fine
for a plugin whose module is its implementation.
"""

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface, implementer

__all__ = ["ILabPlugin", "IProtocolPlugin", "ProtocolPlugin", "protocol_plugin"]

TRANSPORTS = ("tcp", "udp")


class ILabPlugin(Interface):
    """Any lab plugin: a name, what it is for, and what it needs."""

    name = Attribute("Unique plugin name, e.g. 'echo'.")
    description = Attribute("One line saying what the plugin provides.")
    requires = Attribute("Names of the plugins that must load before this one.")

    def load():  # type: ignore[misc]  # zope.interface declares methods without self
        """Import the implementation; raise if it cannot be used.

        Optional: a plugin with nothing to import (only ``name``,
        ``description`` and ``requires``, say one that gathers the plugins a
        course needs) may leave it out, and loading it loads what it requires.
        """


class IProtocolPlugin(Interface):
    """A plugin that provides a server protocol for TCP and/or UDP."""

    transports = Attribute("Transports supported: a tuple of 'tcp' and/or 'udp'.")
    default_endpoint = Attribute("Twisted server endpoint string used when none is given.")
    options = Attribute("Mapping of option name to a one-line description.")

    def build_factory(**options):
        """Return an IProtocolFactory for a stream (TCP) listener."""

    def build_datagram(**options):
        """Return a DatagramProtocol for a UDP listener."""

    def build_decoder():  # type: ignore[misc]  # zope.interface declares methods without self
        """Return a conversation decoder (``feed(direction, data) -> [str]``) or None."""

    def build_framing():  # type: ignore[misc]  # zope.interface declares methods without self
        """Return what splits the protocol into messages for ``lab.proxy`` (or None).

        A ``lab.protocols.framing.Framing``, a framer class used both ways, or
        a ``(to_server, to_client)`` pair of framer classes.
        """


def _resolve(dotted):
    """Import ``'package.module:attribute'`` and return the attribute (a callable is returned as is)."""
    if not isinstance(dotted, str):
        return dotted
    module_name, _, attribute = dotted.partition(":")
    if not attribute:
        raise ValueError(
            f"{dotted!r} is not a 'module:attribute' path; write it as e.g. "
            "'lab.adapters.echo:EchoFactory'."
        )
    target = import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def _names(plugin, requires):
    """``requires`` as a tuple of plugin names; a lone string is one name, not its letters."""
    if isinstance(requires, str):
        requires = (requires,)
    names = tuple(requires)
    wrong = [n for n in names if not isinstance(n, str) or not n.strip()]
    if wrong:
        raise ValueError(
            f"plugin {plugin!r}: requires= must list plugin names (strings), "
            f"e.g. requires=['echo']; got {wrong!r}"
        )
    return names


# A 'module:attribute' path to a callable, the callable itself, or None.
Implementation = str | Callable[..., Any] | None


@implementer(IPlugin, ILabPlugin, IProtocolPlugin)
class ProtocolPlugin:
    """A protocol plugin declared by dotted paths, imported only on :meth:`load`."""

    def __init__(self, name: str, description: str, *, factory: Implementation = None,
                 datagram: Implementation = None, decoder: Implementation = None,
                 framing: Implementation = None, requires: str | Iterable[str] = (),
                 default_endpoint: str | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"plugin name must be a non-empty string, not {name!r}")
        if factory is None and datagram is None:
            raise ValueError(
                f"plugin {name!r} declares neither factory= (TCP) nor datagram= (UDP); "
                "give at least one 'module:attribute' path."
            )
        self.name = name
        self.description = description
        self.requires = _names(name, requires)
        self.transports = tuple(t for t, p in zip(TRANSPORTS, (factory, datagram)) if p)
        self.default_endpoint = default_endpoint or f"{self.transports[0]}:0"
        self.options = dict(options or {})
        self._paths = {"factory": factory, "datagram": datagram, "decoder": decoder,
                       "framing": framing}
        self._loaded: dict[str, Any] = {}

    def __repr__(self):
        return f"<ProtocolPlugin {self.name!r} {'/'.join(self.transports)}>"

    @property
    def module(self) -> str | None:
        """The module that implements this plugin (imported only on load)."""
        path = self._paths["factory"] or self._paths["datagram"]
        if not isinstance(path, str):
            return getattr(path, "__module__", None)
        return path.partition(":")[0]

    def load(self) -> None:
        """Import every implementation this plugin names; raise if one is missing."""
        for role, path in self._paths.items():
            if path and role not in self._loaded:
                self._loaded[role] = _resolve(path)

    def unload(self) -> None:
        """Forget the imported implementations, so the next :meth:`load` resolves them again."""
        self._loaded.clear()

    def _implementation(self, role, transport):
        if not self._paths[role]:
            raise ValueError(
                f"plugin {self.name!r} does not support {transport}; "
                f"it supports {', '.join(self.transports)}."
            )
        self.load()
        return self._loaded[role]

    def build_factory(self, **options: Any) -> Any:
        """Build the stream server factory with ``options``."""
        return self._implementation("factory", "tcp")(**options)

    def build_datagram(self, **options: Any) -> Any:
        """Build the UDP protocol with ``options``."""
        return self._implementation("datagram", "udp")(**options)

    def build_decoder(self) -> Any:
        """Build a fresh conversation decoder, or return None if none is declared."""
        if not self._paths["decoder"]:
            return None
        self.load()
        return self._loaded["decoder"]()

    def build_framing(self) -> Any:
        """The declared framing (see :meth:`IProtocolPlugin.build_framing`), or None."""
        if not self._paths["framing"]:
            return None
        self.load()
        return self._loaded["framing"]


def protocol_plugin(name: str, description: str, **declaration: Any) -> ProtocolPlugin:
    """Declare a protocol plugin in one statement; see :class:`ProtocolPlugin`."""
    return ProtocolPlugin(name, description, **declaration)
