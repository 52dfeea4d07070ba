"""A simulation's record of itself: the log of every event and input, checked against a
recorded log when replaying, and the listeners told of each step, run and control action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.simulator._errors import ReplayDiverged
from lab.simulator._values import Log, LogEntry, clean_text


class _Recording:
    """The logging part of :class:`~lab.simulator.Simulation` (a base class of it)."""

    # The state this part works on (Simulation.__init__ sets it).
    log: Log
    _index: int
    _now: float
    _replay: Log | None
    _stepping: Any
    _in_run: int
    _listeners: list[Callable[[Any], None]]

    def _record(self, entry):
        self._index += 1
        log = self.log
        log.entries.append(entry)
        if len(log.entries) > log.limit:
            log.append_overflow()
        replay = self._replay
        if replay is None:
            return
        if entry.index < len(replay):
            expected = replay[entry.index]
            if expected != entry:
                self._replay = None
                raise ReplayDiverged(
                    f"the run left the recorded log at event {entry.index}:\n"
                    f"  recorded: {expected}\n  now:      {entry}", index=entry.index,
                    expected=expected, actual=entry)

    def _control(self, text):
        """Log a control action (hold, partition...) so that logs show every input."""
        if self._stepping is None:
            entry = LogEntry(self._index, self._now, "control", "sim",
                             clean_text(text))
            self._record(entry)
            self._notify(entry)

    def _row(self):
        """The diagram row of what happens now: the running step's log index (x.5 between steps)."""
        return self._index if self._stepping is not None else self._index - 0.5

    def _notify(self, what):
        for listener in list(self._listeners):
            listener(what)

    @property
    def in_run(self) -> bool:
        """True while a run (run_until, run_until_idle, advance) is under way."""
        return self._in_run > 0

    def _input(self, host, connection, text):
        """Log bytes sent from outside any event (a cell calling client.send)."""
        if self._stepping is None:
            self._record(LogEntry(self._index, self._now, "input", host,
                                  clean_text(text), connection))

    @property
    def replaying(self) -> bool:
        """True while this run is being checked against a recorded log (and has not left it)."""
        return self._replay is not None
