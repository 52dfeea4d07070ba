"""What :func:`lab.bridge.start` returns: the running reactor, shown as a small status."""

import sys
import threading
from typing import Any


class LabStatus:
    """What :func:`start` returns: the running reactor, shown as a small status."""

    def __init__(self, reactor: Any, thread: threading.Thread) -> None:
        self.reactor = reactor
        self.thread = thread

    @property
    def running(self) -> bool:
        """True while the reactor thread is alive and the reactor runs."""
        return bool(self.thread.is_alive() and self.reactor.running)

    @property
    def versions(self) -> dict[str, str]:
        """The versions of the pieces the lab runs on."""
        import crochet
        import twisted

        from lab._version import __version__

        return {"lab": __version__, "twisted": twisted.__version__,
                "crochet": crochet.__version__, "python": sys.version.split()[0]}

    def _summary(self):
        state = "running" if self.running else "NOT running"
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        reactor = type(self.reactor).__name__
        return f"reactor {state} ({reactor}) in thread {self.thread.name!r}; {versions}"

    def __repr__(self):
        return f"<Protocol Lab: {self._summary()}>"

    def _repr_html_(self):
        colour = "#1a7f37" if self.running else "#cf222e"
        import html

        return (
            '<div class="lab-status" style="font-family:sans-serif">'
            f'<b style="color:{colour}">&#9679;</b> Protocol Lab: '
            f"{html.escape(self._summary())}</div>"
        )
