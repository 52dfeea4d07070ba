"""Deferred chains, traced and stepped: see the path a result takes through callbacks and errbacks.

    t = lab.trace(d)          # records every stage of d, before and after this call
    t.stages                  # Stage values: what was added, what ran, input, output, Failure
    s = lab.step(d)           # the chain pauses before each stage
    s.step(); s.run_until("failure"); s.run(); s.reset()
    t.what_if(value=0)        # the same stages again with another input
    t.what_if(raise_at=2)     # ... or with stage 2 forced to raise

``lab.trace(coro)`` and ``lab.trace(fn, *args)`` (an ``async def`` or
``inlineCallbacks`` function) record each ``await``/``yield`` as a stage.
A chain living in the reactor thread is stepped there: ``lab.step(fn,
runner=lab.call)`` calls ``fn`` in the reactor and steps it from the cell.
A chain made in a cell and fired in the reactor thread (``lab.call(d.callback,
1)``, the network) is stepped there too, without ``runner=``, once
``lab.start()`` has run.

This package never imports the reactor, crochet or ipywidgets; the widget
is imported only when ``.widget()`` is called.
"""

from lab.deferreds._errors import (
    BadBreakpoint,
    BadInput,
    CannotReplay,
    ChainFinished,
    DeferredsError,
    NotADeferred,
    NotFinished,
    NothingToStep,
)
from lab.deferreds._trace import SAME, Stepper, Trace, step, trace
from lab.deferreds._values import (
    REPR_LIMIT,
    ChainEnded,
    ChainReset,
    FailureInfo,
    GateReached,
    Stage,
    StageAdded,
    StageRan,
    short_repr,
)

__all__ = [
    "trace",
    "step",
    "Trace",
    "Stepper",
    "Stage",
    "FailureInfo",
    "SAME",
    "StageAdded",
    "StageRan",
    "GateReached",
    "ChainEnded",
    "ChainReset",
    "short_repr",
    "REPR_LIMIT",
    "DeferredsError",
    "BadInput",
    "NotADeferred",
    "ChainFinished",
    "NothingToStep",
    "NotFinished",
    "BadBreakpoint",
    "CannotReplay",
]
