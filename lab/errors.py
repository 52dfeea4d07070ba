"""The lab's exception types: one hierarchy, so ``except lab.LabError`` catches them all.

Each message says what was wrong and what to do about it.
"""

__all__ = [
    "LabError",
    "LabTimeout",
    "WrongThread",
    "ReactorNotRunning",
    "PluginError",
    "MissingDependency",
    "DependencyCycle",
]


class LabError(Exception):
    """Base class of every error the lab raises on purpose."""


class LabTimeout(LabError, TimeoutError):
    """Work handed to the reactor did not finish in time.

    ``started`` says whether it had begun: False means it was dropped before
    it ran (nothing happened); True means it is still running and was not
    stopped; None when that does not apply (e.g. a reply that did not come).
    """

    def __init__(self, message, *, started=None):
        super().__init__(message)
        self.started = started


class WrongThread(LabError, RuntimeError):
    """A blocking call was made from a thread where it would deadlock."""


class ReactorNotRunning(LabError, RuntimeError):
    """The reactor thread is not running (not started, dead, or shut down)."""


class PluginError(LabError):
    """A plugin could not be found, loaded or used.

    ``plugin`` names the plugin concerned (or None); ``traceback`` is the text
    of the traceback that broke it (or None), so it can be shown, not only logged.
    """

    def __init__(self, message, *, plugin=None, traceback=None):
        super().__init__(message)
        self.plugin = plugin
        self.traceback = traceback


class MissingDependency(PluginError):
    """A plugin requires another plugin that does not exist."""

    def __init__(self, message, chain=()):
        super().__init__(message, plugin=chain[0] if chain else None)
        self.chain = tuple(chain)


class DependencyCycle(PluginError):
    """Plugins require each other in a cycle, so none of them can load first."""

    def __init__(self, message, chain=()):
        super().__init__(message, plugin=chain[0] if chain else None)
        self.chain = tuple(chain)


class InspectError(LabError):
    """Something asked of a pending-Deferred snapshot cannot be done (see the message)."""


class NotPending(InspectError, ValueError):
    """The Deferred already has its final result (or is not in the snapshot)."""


class UnknownEntry(InspectError, KeyError):
    """An id that this snapshot does not have (from an older snapshot, or made up)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class DeferredGone(InspectError):
    """The Deferred of a snapshot entry has been garbage-collected since."""
