"""Names for what was added to a chain: the callable's name, its source line, and how it got there.

Computed only when a stage is looked at, never on the hot path.
"""

import functools
import os

__all__ = ["callable_name", "callable_location", "refine_how"]

# Twisted's own helpers, recognised by qualified name so that a stage added
# by Twisted shows as what it is (a timeout, a DeferredList member, ...).
_TWISTED_HOWS = (
    ("Deferred.addTimeout.<locals>.", "addTimeout"),
    ("DeferredList._cbDeferred", "DeferredList"),
    ("_parseDeferredListResult", "gatherResults"),
    ("_gotResultInlineCallbacks", "awaited by a coroutine"),
    ("_handleCancelInlineCallbacks", "cancel"),
)


# Twisted's inner helpers, named for what they do (a learner never wrote `cb`).
_TWISTED_NAMES = (
    ("deferLater.<locals>.cb", "deferLater: call your function"),
    ("deferLater.<locals>.", "deferLater: wait for the delay"),
    ("Deferred.addTimeout.<locals>.convertCancelled", "addTimeout: turn cancel into TimeoutError"),
    ("LoopingCall.__call__.<locals>.cb", "LoopingCall: schedule the next run"),
)


def _unwrap(fn):
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def callable_name(fn):
    """A short name (``parse``, ``Client.get_done``, ``<lambda>``); ``pass`` for no function."""
    if fn is None:
        return "pass"
    fn = _unwrap(fn)
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", "") or ""
    if module.startswith("twisted."):
        for prefix, label in _TWISTED_NAMES:
            if name.startswith(prefix):
                return label
    # "outer.<locals>.inner" reads as "inner" in a diagram; keep the class of methods.
    return name.rsplit(".<locals>.", 1)[-1]


def _cell_of(filename):
    """The execution count of a notebook cell's code file, when IPython compiled it; else None."""
    import sys

    ipython_module = sys.modules.get("IPython")  # never imported here: only if already running
    shell = ipython_module.get_ipython() if ipython_module is not None else None
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return names.get(filename) if isinstance(names, dict) else None


def callable_location(fn):
    """``file.py:line`` where the callable was defined, or ``""`` when it has no Python source."""
    fn = _unwrap(fn)
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return ""
    return code_location(code.co_filename, code.co_firstlineno)


def code_location(filename, line):
    """``cell [N], line L`` for code a notebook cell compiled, else ``file.py:L``."""
    cell = _cell_of(filename)
    if cell is not None:  # not /tmp/ipykernel_123/456.py, which no reader can find
        return f"cell [{cell}], line {line}"
    return f"{os.path.basename(filename)}:{line}"


def _qualname(fn):
    fn = _unwrap(fn)
    return getattr(getattr(fn, "__func__", fn), "__qualname__", "") or ""


def _fires_a_deferred(fn):
    """True for ``other.callback`` / ``other.errback`` bound to a Deferred (chainDeferred)."""
    owner = getattr(fn, "__self__", None)
    if owner is None or getattr(fn, "__name__", "") not in ("callback", "errback",
                                                             "fire_callback", "fire_errback"):
        return False
    return hasattr(owner, "addCallbacks") or hasattr(owner, "deferred")


def refine_how(how, callback, errback):
    """The method that added a stage, or the Twisted feature that added it on the user's behalf."""
    for fn in (callback, errback):
        if fn is None:
            continue
        name = _qualname(fn)
        for prefix, label in _TWISTED_HOWS:
            if name.startswith(prefix):
                return label
    if how == "addCallbacks" and _fires_a_deferred(callback):
        return "chainDeferred"
    return how
