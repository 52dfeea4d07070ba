"""The simulation's exceptions: each says what was wrong and what to do instead."""

from lab.errors import LabError

__all__ = ["SimulationError", "QueueEmpty", "BadTime", "UnknownHost", "ConnectionGone",
           "Unsupported", "RunawayLoop", "NotIdle", "ReplayDiverged"]


class SimulationError(LabError):
    """Base class of the simulation's errors; the simulation stays usable after any of them."""


class QueueEmpty(SimulationError):
    """Nothing can run: the queue is empty, or everything left in it is held."""


class BadTime(SimulationError, ValueError):
    """A time or duration that is negative, not a number, or in the past."""


class UnknownHost(SimulationError, ValueError):
    """A host name the simulation does not know (make it with ``sim.host(name)``)."""


class ConnectionGone(SimulationError, ValueError):
    """A control (hold, release, fragment) named a connection that is closed or unknown."""


class Unsupported(SimulationError, NotImplementedError):
    """A reactor feature the simulation does not provide (processes, threads, real sockets)."""


class RunawayLoop(SimulationError, RuntimeError):
    """Zero-delay calls kept rescheduling themselves without virtual time moving on."""


class NotIdle(SimulationError, RuntimeError):
    """``run_until_idle`` hit its step bound: something (a LoopingCall?) keeps the queue busy."""


class ReplayDiverged(SimulationError):
    """A replayed run did something other than the recorded log at some step."""

    def __init__(self, message, *, index=None, expected=None, actual=None):
        super().__init__(message)
        self.index, self.expected, self.actual = index, expected, actual
