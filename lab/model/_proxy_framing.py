"""The proxy's framer, from what ``framer=`` names: a built-in, a plugin, or an object."""

from typing import Any

from lab.model._errors import ProxyError
from lab.model._listeners import Listener
from lab.plugin import plugins
from lab.protocols.framing import FRAMINGS, Framing


def framing_of(framer: Any, target: Any, name: Any = None) -> Framing:
    """A Framing from ``framer=`` (None, a name, a plugin name, or an object)."""
    plugin: Any
    if framer is None:
        plugin = getattr(target, "plugin", None) if isinstance(target, Listener) else None
        name = getattr(plugin, "name", None)
        if plugin is not None and hasattr(plugin, "build_framing"):
            built = plugin.build_framing()
            if built is not None:
                return framing_of(built, None, name)
        return FRAMINGS.get(name, FRAMINGS["raw"])
    if isinstance(framer, str):
        if framer in FRAMINGS:
            return FRAMINGS[framer]
        try:
            plugin = plugins().load(framer)
        except Exception:  # noqa: BLE001 - any failure means "no such framer"
            plugin = None
        built = plugin.build_framing() if hasattr(plugin, "build_framing") else None
        if built is None:
            raise ProxyError(f"no framer {framer!r}: built in are {', '.join(FRAMINGS)}, and no "
                             "plugin of that name provides one (a plugin declares framing=).")
        return framing_of(built, None, framer)
    if isinstance(framer, Framing):
        return framer
    if isinstance(framer, tuple) and len(framer) == 2 and all(map(callable, framer)):
        made = Framing(name or "custom", framer[0], framer[1])
    elif hasattr(framer, "to_server") and hasattr(framer, "to_client"):
        made = Framing(name or getattr(framer, "name", "custom"), framer.to_server,
                       framer.to_client)
    elif callable(framer):
        made = Framing(name or getattr(framer, "name", getattr(framer, "__name__", "custom")),
                       framer)
    else:
        raise ProxyError(f"framer= takes a name ({', '.join(FRAMINGS)}), a plugin's name, a "
                         f"Framing, a framer class, or a (to_server, to_client) pair, not "
                         f"{type(framer).__name__}.")
    for build in (made.to_server, made.to_client):
        sample = build()
        if not callable(getattr(sample, "feed", None)):
            raise ProxyError(f"framer {made.name!r} builds {type(sample).__name__}, which has "
                             "no feed(data) -> list of messages.")
    return made
