"""Finding every pending Deferred and what it waits on, in the reactor thread.

Why this works without Twisted's help.  A Deferred says little about what
will fire it; but the objects that *can* fire it hold a reference to it, and
each kind of holder is recognisable:

- another Deferred: a Deferred returned by a callback sets ``_chainedTo`` on
  the one it pauses; ``chainDeferred`` and ``DeferredList`` leave a bound
  method of the waiting Deferred (``callback``, ``_cbDeferred``) in the
  pending callbacks (``_callbacks``) of the one waited on;
- a suspended ``inlineCallbacks`` generator or coroutine: Twisted adds
  ``_gotResultInlineCallbacks(waiting, gen, status, context)`` to the inner
  Deferred, and ``status.deferred`` is the outer one;
- a timer: a ``DelayedCall``'s function and arguments reach it (``d.callback``
  for ``deferLater``, a closure, a ``LoopingCall``);
- a connection: the transport's protocol (or what it holds) reaches it;
- a thread: ``deferToThread``'s ``onResult`` closure, held by the work item
  Twisted's thread pool runs;
- nothing of the above: an **orphan**; nothing in the process will fire it.

One pass over ``gc.get_objects()`` finds the Deferreds and the thread pool's
work items; bounded walks (depth and object budget) from each timer and each
connection find what they reach, never walking into modules, classes or the
reactor.  Everything read is turned into plain values before the pass ends;
only weak references to the Deferreds leave the reactor thread, and no
callback is run (``_callbacks`` is read, never popped).
"""

import functools
import gc
import itertools
import os
import time
import types
import weakref
from collections import deque

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredList

from lab import bridge
from lab.deferreds import short_repr
from lab.deferreds._names import callable_location, callable_name
from lab.inspect import _tracking
from lab.inspect._watch import watch_connections, watching_since

__all__ = ["collect", "Wait", "CallbackInfo", "Record", "leaf_key"]

_CONTINUE = getattr(defer, "_CONTINUE", None)
_RESUME = getattr(defer, "_gotResultInlineCallbacks", None)
_ids = itertools.count(1)
_ID = "_lab_id"
WALK_DEPTH = 5
WALK_BUDGET = 600
_FANOUT = 200
MAX_CALLBACKS_SHOWN = 8


class Wait(tuple):
    """One thing a Deferred waits on: ``(kind, target_id, text)``.

    ``kind`` is ``deferred``, ``member``, ``coroutine``, ``timer``,
    ``connection``, ``listening``, ``thread``, ``paused``, ``running`` or
    ``nothing``; ``target`` is the id of the Deferred waited on (for the first
    three), and ``text`` the phrase ``why`` uses.
    """

    __slots__ = ()

    def __new__(cls, kind, target, text, internal=False):
        return tuple.__new__(cls, (kind, target, text, internal))

    kind = property(lambda self: self[0], doc="What kind of thing it waits on.")
    target = property(lambda self: self[1], doc="Id of the Deferred waited on, or None.")
    text = property(lambda self: self[2], doc="A phrase saying what it waits on.")
    internal = property(lambda self: self[3], doc="True for the lab's and crochet's own timers.")

    def __repr__(self):
        return f"Wait({self.kind!r}, {self.target!r}, {self.text!r})"


class CallbackInfo(tuple):
    """A callback still to run: ``(name, location)``, e.g. ``('parse', 'client.py:12')``."""

    __slots__ = ()

    def __new__(cls, name, location):
        return tuple.__new__(cls, (name, location))

    name = property(lambda self: self[0], doc="The callable's name (or what Twisted added it for).")
    location = property(lambda self: self[1], doc="``file.py:line`` where it is defined.")

    def __str__(self):
        return f"{self.name} ({self.location})" if self.location else self.name


class Record(dict):
    """The plain values collected for one Deferred (the snapshot wraps them in an Entry)."""


def _id_of(d):
    found = d.__dict__.get(_ID)
    if found is None:
        found = d.__dict__[_ID] = next(_ids)
    return found


def _state(d):
    """``waiting``, ``paused``, ``running``, or None when it has its final result."""
    if d._runningCallbacks:
        return "running"
    if not d.called:
        return "waiting"
    if d.paused:
        return "paused"
    return None


def leaf_key(wait):
    """A short key naming a leaf, so that equal leaves share one node in a graph."""
    if wait.kind == "nothing":
        return "nothing can fire it"
    if wait.kind == "timer":
        return wait.text.split(" (", 1)[-1].rstrip(")") if "(" in wait.text else wait.text
    return wait.text.split(", ", 1)[0]


# -- one pass over the heap -------------------------------------------------


def _thread_codes():
    from twisted.internet import threads
    from twisted.python import threadpool

    def nested(fn, name):
        for const in fn.__code__.co_consts:
            if isinstance(const, types.CodeType) and const.co_name == name:
                return const
        return None

    return (nested(threadpool.ThreadPool.callInThreadWithCallback, "inContext"),
            nested(threads.deferToThreadPool, "onResult"))


def _scan_heap():
    """``(pending Deferreds by id(), thread work items)`` from one pass over gc's objects."""
    in_context, _ = _thread_codes()
    pending, work = {}, []
    kinds = {}
    function_type = types.FunctionType
    for obj in gc.get_objects():
        kind = type(obj)
        flag = kinds.get(kind)
        if flag is None:
            flag = kinds[kind] = 1 if issubclass(kind, Deferred) else (
                2 if kind is function_type else 0)
        if flag == 1:
            if _state(obj) is not None:
                pending[id(obj)] = obj
        elif flag == 2 and obj.__code__ is in_context:
            work.append(obj)
    return pending, work


# -- bounded walks from timers and connections ------------------------------

_LEAVES = (str, bytes, bytearray, int, float, bool, complex, type(None), type, types.ModuleType,
           types.CodeType, types.FrameType, types.GeneratorType, types.CoroutineType)


def _children(obj):
    """What ``obj`` refers to, as far as a walk looks: items, values, closures, attributes."""
    if isinstance(obj, (list, tuple, set, frozenset, deque)):
        return obj
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, types.MethodType):
        return (obj.__self__,)
    if isinstance(obj, types.FunctionType):
        return tuple(c.cell_contents for c in (obj.__closure__ or ()) if _filled(c))
    if isinstance(obj, functools.partial):
        return (obj.func, *obj.args, *obj.keywords.values())
    wrapped = getattr(type(obj), "__wrapped__", None)
    if wrapped is not None and hasattr(obj, "__wrapped__"):
        return (obj.__wrapped__,)
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        return attrs.values()
    slots = getattr(type(obj), "__slots__", ())
    return tuple(getattr(obj, s, None) for s in ((slots,) if isinstance(slots, str) else slots))


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _reach(roots, pending, stop):
    """``{id(d): depth}`` of pending Deferreds reachable from ``roots`` (bounded walk).

    Every item of a container is checked against the pending Deferreds (an
    id lookup, so a protocol holding 10,000 of them finds them all), but the
    walk descends into at most ``_FANOUT`` other items per container, to
    ``WALK_DEPTH``, visiting at most ``WALK_BUDGET`` objects per root set.
    """
    found, seen, budget = {}, set(stop), WALK_BUDGET
    stack = [(root, 0) for root in roots]
    while stack and budget:
        obj, depth = stack.pop()
        key = id(obj)
        if key in seen:
            continue
        seen.add(key)
        budget -= 1
        if key in pending:
            found[key] = min(depth, found.get(key, depth))
            continue  # what a Deferred holds is its own business: stop here
        if isinstance(obj, (Deferred, *_LEAVES)) or depth >= WALK_DEPTH:
            continue
        try:
            children = _children(obj)
            pushed = 0
            for child in children:
                child_key = id(child)
                if child_key in pending:
                    found[child_key] = min(depth + 1, found.get(child_key, depth + 1))
                elif pushed < _FANOUT and not isinstance(child, _LEAVES):
                    stack.append((child, depth + 1))
                    pushed += 1
        except Exception:  # noqa: BLE001 - an odd object must not stop the snapshot
            continue
    return found


def _internal_timer(func):
    for candidate in (func, getattr(func, "__self__", None)):
        if type(candidate).__name__ == "LoopingCall":
            if getattr(getattr(candidate, "f", None), "__name__", "") == "reapAllProcesses":
                return True
            if getattr(candidate, "_lab_internal_timer", None):
                return True
    return bool(getattr(func, "_lab_internal_timer", None))


def _timer_text(call, func, now):
    loop = None
    for candidate in (func, getattr(func, "__self__", None)):
        if type(candidate).__name__ == "LoopingCall":
            loop = candidate
    left = max(0.0, call.getTime() - now)
    if loop is not None:
        return (f"a LoopingCall of {callable_name(loop.f)} every {loop.interval} s "
                f"(next in {left:.1f} s)")
    owner = getattr(func, "__self__", None)
    if isinstance(owner, Deferred):
        return f"a timer due in {left:.1f} s (callLater fires it, as deferLater does)"
    return f"a timer due in {left:.1f} s ({callable_name(func)})"


def _timers(reactor, pending, stop):
    found = {}
    now = reactor.seconds()
    for call in reactor.getDelayedCalls():
        func = bridge.unwrap_routed(call.func)
        reached = _reach((func, call.args, call.kw), pending, stop)
        if not reached:
            continue
        text, internal = _timer_text(call, func, now), _internal_timer(func)
        for key, depth in reached.items():
            found.setdefault(key, []).append((depth, 1, Wait("timer", None, text, internal)))
    return found


def _peer(transport):
    try:
        address = transport.getPeer()
    except Exception:  # noqa: BLE001 - a closing socket may not know its peer
        return "?"
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    return f"{host}:{port}" if host is not None else str(address)


def _user_protocol(protocol):
    """The protocol behind Twisted's wrappers (endpoints, TLS, policies), as far as they say."""
    for _ in range(5):
        inner = getattr(protocol, "_wrappedProtocol", None) or getattr(
            protocol, "wrappedProtocol", None)
        if inner is None:
            break
        protocol = inner
    return protocol


def _connection_text(transport, now):
    protocol = _user_protocol(getattr(transport, "protocol", None))
    name = type(protocol).__name__ if protocol is not None else type(transport).__name__
    received = transport.__dict__.get("_lab_rx")
    if received is not None and received[1]:
        heard = f"{received[0]} bytes received, silent for {now - received[1]:.1f} s"
    else:
        since = now - max(watching_since(), transport.__dict__.get("_lab_seen", 0))
        heard = f"nothing received for at least {since:.1f} s"
    return f"the connection to {_peer(transport)} ({name}), {heard}"


def _connections(reactor, pending, stop):
    found = {}
    now = time.monotonic()
    selectables = set(reactor.getReaders()) | set(reactor.getWriters())
    for selectable in selectables:
        if "Waker" in type(selectable).__name__:
            continue
        selectable.__dict__.setdefault("_lab_seen", now)
        listening = type(selectable).__name__ == "Port" or not hasattr(selectable, "getPeer")
        roots = (getattr(selectable, "factory", None),) if listening else (selectable,)
        reached = _reach(roots, pending, stop)
        if not reached:
            continue
        if listening:
            host = getattr(selectable, "getHost", lambda: "?")()
            wait = Wait("listening", None, f"the factory of the listening port "
                        f"{getattr(host, 'host', host)}:{getattr(host, 'port', '')} (only "
                        "something a connection does can fire it)")
        else:
            wait = Wait("connection", None, _connection_text(selectable, now))
        for key, depth in reached.items():
            found.setdefault(key, []).append((depth, 0, wait))
    return found


def _threads(work, pending):
    _, on_result = _thread_codes()
    found = {}
    for item in work:
        callback = getattr(item, "onResult", None)
        if getattr(callback, "__code__", None) is not on_result:
            continue
        cells = dict(zip(on_result.co_freevars, callback.__closure__ or ()))
        cell = cells.get("d")
        if cell is None or not _filled(cell) or id(cell.cell_contents) not in pending:
            continue
        name = "a function"
        the_work = getattr(item, "theWork", None)
        if the_work is not None:
            inner = dict(zip(the_work.__code__.co_freevars, the_work.__closure__ or ()))
            if "func" in inner and _filled(inner["func"]):
                name = callable_name(inner["func"].cell_contents)
        text = f"a thread running {name} (deferToThread)"
        found.setdefault(id(cell.cell_contents), []).append((0, 0, Wait("thread", None, text)))
    return found


# -- what each Deferred waits on, from the Deferreds themselves ------------


_DEFER_FILE = defer.__file__


def _frame_of(gen):
    return getattr(gen, "gi_frame", None) or getattr(gen, "cr_frame", None)


def _generator_text(gen):
    name = (getattr(gen, "__qualname__", None) or type(gen).__name__).rsplit(".<locals>.", 1)[-1]
    frame = _frame_of(gen)
    inner = gen
    while True:  # the innermost coroutine (outside Twisted) is where the await is
        awaited = getattr(inner, "cr_await", None) or getattr(inner, "gi_yieldfrom", None)
        awaited_frame = _frame_of(awaited) if awaited is not None else None
        if awaited_frame is None or awaited_frame.f_code.co_filename == _DEFER_FILE:
            break
        inner = awaited
    inner_frame = getattr(inner, "gi_frame", None) or getattr(inner, "cr_frame", None) or frame
    kind = "coroutine" if hasattr(gen, "cr_frame") else "inlineCallbacks"
    if inner_frame is None:
        return f"{kind} {name}()"
    where = f"{os.path.basename(inner_frame.f_code.co_filename)}:{inner_frame.f_lineno}"
    if inner is not gen:
        return f"{kind} {name}() suspended in {inner_frame.f_code.co_name}() at {where}"
    return f"{kind} {name}() suspended at {where}"


def _describe_callback(item):
    (callback, args, _), (errback, _, _) = item
    if callback is _CONTINUE:
        return CallbackInfo(f"continue Deferred #{_id_of(args[0])}", "")
    if callback is _RESUME:
        return CallbackInfo(f"resume {_generator_text(args[1])}", "")
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, DeferredList):
        return CallbackInfo(f"report to DeferredList #{_id_of(owner)}", "")
    if isinstance(owner, Deferred):
        return CallbackInfo(f"fire Deferred #{_id_of(owner)} (chainDeferred)", "")
    fn = callback if callback is not defer.passthru else errback
    name = callable_name(fn)
    if fn is errback and errback is not None:
        name = f"errback {name}"
    return CallbackInfo(name, callable_location(fn))


def _deferred_waits(pending):
    """``{id(d): [(depth, rank, Wait)]}`` for Deferreds waiting on other pending Deferreds."""
    found, kinds = {}, {}
    members = {}
    for key, d in pending.items():
        chained = d._chainedTo
        if chained is not None and id(chained) in pending:
            found.setdefault(key, []).append(
                (0, 0, Wait("deferred", _id_of(chained),
                            f"Deferred #{_id_of(chained)} (returned by one of its callbacks)")))
        for item in d._callbacks:
            (callback, args, _), (errback, _, _) = item
            if callback is _RESUME:
                status = args[2]
                outer = getattr(status, "deferred", None)
                if outer is not None and id(outer) in pending:
                    kinds[id(outer)] = _generator_text(args[1])
                    found.setdefault(id(outer), []).append(
                        (0, 0, Wait("coroutine", _id_of(d),
                                    f"Deferred #{_id_of(d)}, awaited by {kinds[id(outer)]}")))
                continue
            for fn in (callback, errback):
                owner = getattr(fn, "__self__", None)
                if owner is None or owner is d or id(owner) not in pending:
                    continue
                if isinstance(owner, DeferredList):
                    index = members.get(id(owner))
                    if index is None:
                        index = members[id(owner)] = {id(m): i for i, m in
                                                      enumerate(owner._deferredList)}
                    total, position = len(owner._deferredList), index.get(key, 0)
                    text = f"Deferred #{_id_of(d)} (member {position + 1} of {total})"
                    found.setdefault(id(owner), []).append(
                        (position, 0, Wait("member", _id_of(d), text)))
                    break
                if isinstance(owner, Deferred):
                    found.setdefault(id(owner), []).append(
                        (0, 0, Wait("deferred", _id_of(d),
                                    f"Deferred #{_id_of(d)} (chained with chainDeferred)")))
                    break
    return found, kinds


# -- the snapshot ----------------------------------------------------------------


def _kind_of(d, coroutine_text):
    if coroutine_text:
        return coroutine_text.split(" suspended", 1)[0]
    return type(d).__name__


def collect(include_internal=False, collect_garbage=True):
    """Every pending Deferred as a :class:`Record` (reactor thread only); see the module doc."""
    reactor = bridge.get_reactor()
    watch_connections()
    if collect_garbage:
        gc.collect()
    pending, work = _scan_heap()
    stop = {id(reactor), id(pending), id(work)}
    waits, coroutines = _deferred_waits(pending)
    leaves = {}
    for found in (_timers(reactor, pending, stop), _connections(reactor, pending, stop),
                  _threads(work, pending)):
        for key, items in found.items():
            leaves.setdefault(key, []).extend(items)
    now = time.monotonic()
    records = []
    for key, d in pending.items():
        state = _state(d)
        own = [w for _, _, w in sorted(waits.get(key, ()), key=lambda i: (i[0], i[1]))]
        held = [w for _, _, w in sorted(leaves.get(key, ()), key=lambda i: (i[0], i[1]))]
        found = own + held
        if not found:
            if state == "running":
                found = [Wait("running", None, "its own callbacks, running right now")]
            elif state == "paused":
                found = [Wait("paused", None, "nothing: it was paused with pause() and waits "
                                              "for unpause()")]
            else:
                found = [Wait("nothing", None, "nothing: nothing in the process can fire it")]
        callbacks = [_describe_callback(item) for item in
                     itertools.islice(d._callbacks, MAX_CALLBACKS_SHOWN)]
        born = _tracking.born_of(d)
        value = short_repr(d.result) if state == "running" else None
        records.append(Record(
            id=_id_of(d), ref=weakref.ref(d), state=state, kind=_kind_of(d, coroutines.get(key)),
            site=_tracking.site_of(d), age=None if born is None else now - born,
            callbacks=tuple(callbacks), more_callbacks=max(0, len(d._callbacks) - len(callbacks)),
            waits_on=tuple(found), value=value,
            internal=bool(held) and all(w.internal for w in held) and not own,
        ))
    del pending, work
    if not include_internal:
        records = _without_internal(records)
    return records


def _without_internal(records):
    """Drop the lab's and crochet's own timers' Deferreds, and those waiting only on them."""
    hidden = {r["id"] for r in records if r["internal"]}
    changed = True
    while changed:
        changed = False
        for r in records:
            if r["id"] not in hidden and r["waits_on"] and all(
                    w.target in hidden for w in r["waits_on"] if w.target is not None) and any(
                    w.target is not None for w in r["waits_on"]) and all(
                    w.target is not None for w in r["waits_on"]):
                hidden.add(r["id"])
                changed = True
    return [r for r in records if r["id"] not in hidden]
