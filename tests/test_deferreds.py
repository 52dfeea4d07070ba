"""The Deferred trace/step core, on chains built in the test's own thread (no reactor)."""

import threading
import warnings

import pytest
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    TimeoutError,
    fail,
    gatherResults,
    inlineCallbacks,
    succeed,
)
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure

import lab
from lab.deferreds import (
    BadBreakpoint,
    BadInput,
    CannotReplay,
    ChainEnded,
    ChainFinished,
    GateReached,
    NotADeferred,
    NotFinished,
    NothingToStep,
    StageAdded,
    StageRan,
    short_repr,
)
from lab.errors import LabError, WrongThread


class InvalidKey(Exception):
    """A custom error for the errback examples."""


def parse(text):
    """A first stage that may raise ValueError."""
    return int(text)


def double(number):
    """A plain callback."""
    return number * 2


def recover(failure):
    """An errback that turns a ValueError into -1 and passes anything else on."""
    failure.trap(ValueError)
    return -1


def consume(failure):
    """An errback that swallows whatever reached it (keeps test logs free of unhandled errors)."""
    return None


def chain(*stages):
    """A fresh Deferred with ``(method, fn)`` stages already added."""
    d = Deferred()
    for method, fn in stages:
        getattr(d, method)(fn)
    return d


# -- recording ---------------------------------------------------------------


def test_trace_records_stages_added_before_and_after_it():
    """Stages added before trace() and after it are both recorded, in order, with what they did."""
    d = chain(("addCallback", parse))
    traced = lab.trace(d)
    d.addCallback(double).addErrback(recover)
    d.callback("21")
    assert ("parse", "double", "recover") == tuple(s.name for s in traced.stages)
    assert ("addCallback", "addCallback", "addErrback") == tuple(s.how for s in traced.stages)
    assert ("callback", "callback", "skipped") == traced.path
    assert ["'21'", "21", "42"] == [s.input for s in traced.stages]
    assert 42 == traced.result


def test_stage_knows_where_its_function_was_defined():
    """Each stage names its function's file and line."""
    traced = lab.trace(chain(("addCallback", parse)))
    assert traced.stages[0].location == f"test_deferreds.py:{parse.__code__.co_firstlineno}"


def test_trace_of_an_already_fired_deferred_records_its_value_and_later_stages():
    """A Deferred that fired before trace() shows its value as input, and later stages run on it."""
    d = succeed(5)
    traced = lab.trace(d)
    assert traced.done and 5 == traced.result
    d.addCallback(double)
    assert "5" == traced.stages[0].input
    assert 10 == traced.result


def test_failure_path_skips_callbacks_and_errback_recovers():
    """A raising callback sends the Failure past later callbacks to the errback, which recovers."""
    d = chain(("addCallback", parse), ("addCallback", double), ("addErrback", recover),
              ("addCallback", str))
    traced = lab.trace(d)
    d.callback("not a number")
    assert ("callback", "skipped", "errback", "callback") == traced.path
    assert "ValueError" == traced.stages[0].failure.type_name
    assert traced.stages[1].input_failed and "errback" == traced.stages[1].side
    assert "'-1'" == traced.stages[3].output


def test_failure_keeps_type_message_and_traceback():
    """A stage's Failure has its exception type, message and a traceback naming the function."""
    d = chain(("addCallback", parse), ("addErrback", consume))
    traced = lab.trace(d)
    d.callback("x")
    failure = traced.stages[0].failure
    assert ValueError is failure.type and ValueError is failure.check(KeyError, ValueError)
    assert "invalid literal" in failure.message
    assert "in parse" in failure.traceback


def test_huge_values_are_kept_as_bounded_reprs():
    """A 20 MB value passing through the chain is recorded as a short repr, not kept."""
    d = chain(("addCallback", lambda data: data + b"!"), ("addCallback", len))
    traced = lab.trace(d)
    d.callback(b"x" * 20_000_000)
    stages = traced.stages
    assert all(len(s.input) <= lab.deferreds.REPR_LIMIT for s in stages)
    assert stages[0].input.startswith("b'xxxx") and stages[0].input.endswith("\u2026")
    assert "20000001" == stages[1].output


def test_short_repr_survives_a_broken_repr():
    """A value whose __repr__ raises is still shown (never breaks the chain)."""

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert "<Broken (repr raised RuntimeError)>" == short_repr(Broken())


def test_unhandled_failure_is_flagged_until_handled():
    """A chain ending in a Failure is flagged unhandled; adding an errback clears the flag."""
    d = chain(("addCallback", parse))
    traced = lab.trace(d)
    d.callback("x")
    assert traced.unhandled and traced.failed
    assert "unhandled error" in traced.describe()
    d.addErrback(consume)
    assert not traced.unhandled and traced.result is None


def test_failure_handed_to_an_outer_chain_is_not_unhandled():
    """A Failure passed on to the Deferred that waited on this one is not flagged as lost."""
    inner = Deferred()
    traced = lab.trace(inner)
    outer = chain(("addCallback", lambda _: inner), ("addErrback", consume))
    outer.callback(None)
    inner.errback(InvalidKey("k"))
    assert traced.failed and not traced.unhandled


def test_result_before_the_end_says_so():
    """Asking for the result of an unfinished chain raises NotFinished."""
    with pytest.raises(NotFinished, match="not finished"):
        lab.trace(Deferred()).result


# -- nested chains, lists, coroutines ------------------------------------------


def test_callback_returning_a_deferred_shows_waiting_then_its_result():
    """A stage that returns an unfired Deferred waits on it; its result then flows on."""
    inner = Deferred()
    d = chain(("addCallback", lambda _: inner), ("addCallback", double))
    traced = lab.trace(d)
    d.callback(None)
    assert "waiting" == traced.stages[0].state and not traced.done
    inner.callback(20)
    assert "20" == traced.stages[0].output and traced.stages[0].waited
    assert 40 == traced.result


def test_nested_deferred_can_be_traced_in_turn():
    """nested(i) traces the Deferred stage i waits on; later stages run after the hand-over."""
    inner = Deferred()
    d = chain(("addCallback", lambda _: inner))
    traced = lab.trace(d)
    d.callback(None)
    nested = traced.nested(0)
    inner.addCallback(lambda value: value)
    inner.callback(4)
    assert 4 == traced.result
    assert ("<lambda>", "None") == (nested.stages[0].name, nested.stages[0].input)


def test_nested_on_a_stage_without_a_deferred_is_refused():
    """nested() on a stage that returned a plain value raises a clear error."""
    traced = lab.trace(succeed(1))
    traced.deferred.addCallback(double)
    with pytest.raises(BadBreakpoint, match="did not return a Deferred"):
        traced.nested(0)


def test_deferred_list_shows_its_members():
    """A DeferredList's trace has a trace per member, each showing the list collecting it."""
    first, second = Deferred(), Deferred()
    traced = lab.trace(DeferredList([first, second]))
    first.callback(1)
    second.callback(2)
    members = traced.members
    assert [1, 2] == [m.result for m in members]
    assert "DeferredList" == members[0].stages[-1].how
    assert [(True, 1), (True, 2)] == traced.result


def test_gather_results_shows_the_gathering_stage_and_members():
    """gatherResults shows its unpacking stage, skipped when a member fails, and that member."""
    first, second = Deferred(), Deferred()
    traced = lab.trace(gatherResults([first, second], consumeErrors=True))
    traced.deferred.addErrback(consume)
    second.errback(InvalidKey("k"))
    assert "errback" == traced.members[1].stages[0].ran
    assert "gatherResults" == traced.stages[0].how and "skipped" == traced.stages[0].ran
    assert "FirstError" == traced.stages[1].input.split()[1].rstrip(":")
    first.callback(1)


def test_inline_callbacks_generator_shows_each_yield():
    """An inlineCallbacks function shows one stage per yield, including a caught exception."""

    @inlineCallbacks
    def lookup(key):
        value = yield succeed(key)
        try:
            yield fail(InvalidKey(key))
        except InvalidKey:
            value = value + "!"
        return value

    traced = lab.trace(lookup, "k")
    assert ["yield"] * 3 == [s.how for s in traced.stages]
    assert ("callback", "callback", "errback") == traced.path
    assert "'k!'" == traced.stages[2].output and "k!" == traced.result


def test_async_def_shows_each_await_and_can_be_stepped():
    """Stepping an async def runs it one await at a time."""
    first, second = Deferred(), Deferred()

    async def total(a, b):
        x = await a
        y = await b
        return x + y

    stepper = lab.step(total, first, second)
    assert 0 == stepper.position
    assert "waiting" == stepper.step().state
    first.callback(1)
    assert 1 == stepper.current
    stepper.step()
    second.callback(2)
    assert "3" == stepper.step().output
    assert stepper.done and 3 == stepper.result


def test_coroutine_object_is_traced_too():
    """A coroutine object is driven and traced; awaiting a fired Deferred does not pause."""
    later = Deferred()

    async def answer():
        ready = await succeed(40)
        return ready + await later

    traced = lab.trace(answer())
    later.callback(2)
    assert 42 == traced.result and 2 == len(traced.stages)


# -- timeouts and cancellation ------------------------------------------------


def test_timeout_shows_as_addtimeout_stages_and_a_timeout_error():
    """addTimeout's stages are labelled, and the timeout's CancelledError becomes TimeoutError."""
    clock = Clock()
    d = Deferred()
    traced = lab.trace(d)
    d.addTimeout(5, clock)
    d.addErrback(lambda f: f.trap(TimeoutError) and "gave up")
    clock.advance(5)
    assert ("addTimeout", "addTimeout", "addErrback") == tuple(s.how for s in traced.stages)
    assert "TimeoutError" == traced.stages[0].failure.type_name
    assert traced.cancelled and "gave up" == traced.result


def test_cancel_shows_as_cancelled_error_input():
    """Cancelling an unfired Deferred shows cancel() and the CancelledError it fired with."""
    d = chain(("addCallback", double), ("addErrback", consume))
    traced = lab.trace(d)
    d.cancel()
    assert "errback" == traced.fired_by
    assert "CancelledError" in traced.initial and "cancel() was called" in traced.notes
    assert ("skipped", "errback") == traced.path


def test_cancel_at_a_gate_keeps_the_chain_paused():
    """cancel() on a fired chain paused at a gate is ignored, as untraced Twisted would."""
    d = chain(("addCallback", double))
    stepper = lab.step(d)
    d.callback(1)
    d.cancel()
    assert 0 == stepper.position and any("ignores it" in n for n in stepper.notes)
    assert "2" == stepper.step().output


# -- stepping ------------------------------------------------------------------


def test_step_runs_exactly_one_stage_and_returns_it():
    """Each step() runs one stage; the chain waits before the next with its value at the gate."""
    d = chain(("addCallback", parse), ("addCallback", double))
    stepper = lab.step(d)
    d.callback("4")
    assert 0 == stepper.position and "4" == stepper.current
    ran = stepper.step()
    assert ("parse", "callback", "4") == (ran.name, ran.ran, ran.output)
    assert 1 == stepper.position and 4 == stepper.current
    assert None is stepper.stages[1].ran


def test_step_pauses_before_skipped_stages_too():
    """A stage the Failure passes over is a step of its own, shown as skipped."""
    d = chain(("addCallback", parse), ("addCallback", double), ("addErrback", recover))
    stepper = lab.step(d)
    d.callback("x")
    stepper.step()
    assert isinstance(stepper.current, Failure)
    assert "skipped" == stepper.step().ran
    assert "-1" == stepper.step().output


def test_run_until_index_stops_before_that_stage():
    """run_until(i) leaves the chain paused before stage i."""
    d = chain(("addCallback", double), ("addCallback", double), ("addCallback", double))
    stepper = lab.step(d)
    d.callback(1)
    assert 2 == len(stepper.run_until(2))
    assert 2 == stepper.position and 4 == stepper.current


def test_run_until_failure_stops_after_the_stage_that_failed():
    """run_until('failure') stops right after the next stage that ended in a Failure."""
    d = chain(("addCallback", double), ("addCallback", parse), ("addCallback", double),
              ("addErrback", recover))
    stepper = lab.step(d)
    d.callback("ab")
    assert 4 == len(stepper.run_until(KeyError)) and stepper.done  # no KeyError: to the end
    stepper.reset()
    ran = stepper.run_until("failure")
    assert ["double", "parse"] == [s.name for s in ran]
    assert ValueError is stepper.current.check(ValueError)


def test_run_until_failure_class_and_a_predicate():
    """run_until accepts the Failure class, or a function of each stage run."""
    d = chain(("addCallback", parse), ("addErrback", recover), ("addCallback", double),
              ("addCallback", double))
    stepper = lab.step(d)
    d.callback("x")
    assert "parse" == stepper.run_until(Failure)[-1].name
    assert "double" == stepper.run_until(lambda stage: stage.output == "-2")[-1].name
    assert 3 == stepper.position


def test_run_goes_to_the_end():
    """run() runs every remaining stage and the stepper has the result."""
    d = chain(("addCallback", parse), ("addCallback", double))
    stepper = lab.step(d)
    d.callback("5")
    assert 2 == len(stepper.run())
    assert stepper.done and 10 == stepper.result and None is stepper.position


def test_stepping_a_finished_chain_says_it_is_finished():
    """step() on a finished chain raises ChainFinished, which suggests reset()."""
    d = chain(("addCallback", double))
    stepper = lab.step(d)
    d.callback(1)
    stepper.run()
    with pytest.raises(ChainFinished, match="reset"):
        stepper.step()


def test_stepping_before_the_deferred_fires_says_so():
    """step() before the Deferred fired raises NothingToStep telling how to fire it."""
    stepper = lab.step(chain(("addCallback", double)))
    with pytest.raises(NothingToStep, match="not fired yet"):
        stepper.step()


def test_stepping_while_waiting_on_a_nested_deferred_says_so():
    """step() while a stage waits on its returned Deferred names that stage."""
    inner = Deferred()
    d = chain(("addCallback", lambda _: inner), ("addCallback", double))
    stepper = lab.step(d)
    d.callback(None)
    stepper.step()
    with pytest.raises(NothingToStep, match=r"stage #0 returned a Deferred"):
        stepper.step()
    inner.callback(3)
    assert "6" == stepper.step().output


def test_stepping_from_another_thread_without_a_runner_is_refused():
    """A chain is stepped in its own thread; from another one, WrongThread says what to do."""
    d = chain(("addCallback", double))
    stepper = lab.step(d)
    d.callback(1)
    errors = []
    worker = threading.Thread(target=lambda: _capture(errors, stepper.step))
    worker.start()
    worker.join()
    assert isinstance(errors[0], WrongThread) and "runner=lab.call" in str(errors[0])


def _capture(errors, fn):
    try:
        fn()
    except LabError as error:
        errors.append(error)


def test_bad_input_gets_clear_errors():
    """Not a Deferred, a function returning a plain value, or a bad breakpoint: clear errors."""
    with pytest.raises(NotADeferred, match="not int 42"):
        lab.trace(42)
    with pytest.raises(NotADeferred, match="returned int"):
        lab.trace(lambda: 42)
    with pytest.raises(BadInput, match="extra arguments"):
        lab.trace(Deferred(), 1)
    with pytest.raises(BadInput, match="runner= must be a callable"):
        lab.step(Deferred(), runner="reactor")
    stepper = lab.step(chain(("addCallback", double)))
    stepper.deferred.callback(1)
    with pytest.raises(BadBreakpoint, match="not str 'nope'"):
        stepper.run_until("nope")
    with pytest.raises(BadBreakpoint, match="no stage #9"):
        stepper.run_until(9)


def test_stepping_after_the_end_gates_stages_added_later():
    """A stage added to a stepped chain after it finished pauses before running."""
    d = chain(("addCallback", double))
    stepper = lab.step(d)
    d.callback(1)
    stepper.run()
    d.addCallback(double)
    assert 1 == stepper.position and "4" == stepper.step().output


# -- what-if and reset ---------------------------------------------------------


def test_what_if_another_input_takes_the_errback_path():
    """Replaying with another initial value shows the other path; the original is untouched."""
    d = chain(("addCallback", parse), ("addCallback", double), ("addErrback", recover))
    traced = lab.trace(d)
    d.callback("2")
    other = traced.what_if(value="two")
    assert ("callback", "skipped", "errback") == other.path and -1 == other.result
    assert ("callback", "callback", "skipped") == traced.path and 4 == traced.result


def test_what_if_a_stage_raises():
    """Forcing a stage to raise sends the result down the errback path from there."""
    d = chain(("addCallback", parse), ("addCallback", double), ("addErrback", recover))
    traced = lab.trace(d)
    d.callback("2")
    other = traced.what_if(raise_at=1, error=ValueError("forced"))
    assert ("callback", "callback", "errback") == other.path and -1 == other.result
    assert "forced to raise" in other.stages[1].note
    assert other.stages[1].name.startswith("raise ValueError")


def test_what_if_a_failure_input_and_unknown_stage():
    """failure= starts the replay on the errback path; a bad raise_at is refused."""
    traced = lab.trace(chain(("addCallback", double), ("addErrback", recover)))
    traced.deferred.callback(1)
    assert ("skipped", "errback") == traced.what_if(failure=ValueError("v")).path
    with pytest.raises(BadBreakpoint, match="raise_at=5"):
        traced.what_if(raise_at=5)


def test_what_if_before_firing_needs_a_value():
    """An unfired chain has no input to replay: CannotReplay asks for value=."""
    with pytest.raises(CannotReplay, match="value="):
        lab.trace(chain(("addCallback", double))).what_if()


def test_stepper_what_if_is_paused_and_coroutines_replay_by_calling_again():
    """A stepper's replay starts paused; a coroutine's what-if throws into the chosen segment."""

    clock = Clock()

    async def fetch():
        value = await deferLater(clock, 1, lambda: 1)
        return value + 1

    stepper = lab.step(fetch)
    stepper.step()
    clock.advance(1)
    stepper.run()
    assert 2 == stepper.result
    replay = stepper.what_if(raise_at=1, error=InvalidKey("gone"))
    assert 0 == replay.position
    replay.step()
    clock.advance(1)
    replay.run()
    assert replay.failed and InvalidKey is replay.result.check(InvalidKey)
    replay.deferred.addErrback(consume)
    with pytest.raises(CannotReplay, match="runs only once"):
        lab.trace(fetch()).what_if()


def test_reset_replays_the_chain_paused_at_the_start():
    """reset() starts a fresh run of the same stages from the same input, before stage 0."""
    d = chain(("addCallback", parse), ("addCallback", double))
    stepper = lab.step(d)
    d.callback("3")
    stepper.run()
    stepper.reset()
    assert 0 == stepper.position and "3" == stepper.current and not stepper.done
    stepper.run()
    assert 6 == stepper.result


# -- Twisted's rules, events, pictures -----------------------------------------


def test_no_deprecation_warnings_and_no_subclass():
    """Tracing and stepping use no deprecated Deferred API and keep the Deferred's own class."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = chain(("addCallback", double))
        stepper = lab.step(d)
        d.callback(1)
        stepper.run()
    assert [] == [str(w.message) for w in caught]
    assert Deferred is type(stepper.deferred)


def test_chain_deferred_is_labelled():
    """d1.chainDeferred(d2) shows as a chainDeferred stage."""
    first, second = Deferred(), Deferred()
    traced = lab.trace(first)
    first.chainDeferred(second)
    first.callback(1)
    assert "chainDeferred" == traced.stages[0].how


def test_listeners_hear_each_change():
    """Subscribers get StageAdded, StageRan, GateReached and ChainEnded events."""
    events = []
    d = Deferred()
    stepper = lab.step(d)
    stepper.subscribe(events.append)
    d.addCallback(double)
    d.callback(1)
    stepper.step()
    kinds = [type(e) for e in events]
    assert [StageAdded, GateReached, StageRan, ChainEnded] == kinds


def test_ladder_draws_columns_path_gate_and_values():
    """The ladder shows both columns, each stage, the gate marker and values on the edges."""
    d = chain(("addCallback", parse), ("addCallback", double), ("addErrback", recover))
    stepper = lab.step(d)
    d.callback("x")
    stepper.step()
    picture = stepper._repr_html_()
    assert "<svg" in picture and "callbacks" in picture and "errbacks" in picture
    assert "#1" in picture and "\u25b6 next" in picture and "parse" in picture
    assert "\u2717 ValueError" in picture  # the Failure on the edge
    stepper.run()
    assert "result: -1" in stepper._repr_html_()


def test_ladder_of_a_long_chain_stays_small():
    """A 2,000-stage chain draws a window of rows, not 2,000 rows."""
    d = Deferred()
    for _ in range(2000):
        d.addCallback(double)
    traced = lab.trace(d)
    d.callback(1)
    picture = traced.ladder_html()
    assert "stages not drawn" in picture and len(picture) < 60_000


def test_detail_pane_shows_the_failure_traceback():
    """The detail of a failed stage shows its exception and traceback, escaped."""
    d = chain(("addCallback", parse), ("addErrback", consume))
    traced = lab.trace(d)
    d.callback("<b>")
    detail = traced.detail_html(0)
    assert "ValueError" in detail and "in parse" in detail and "&lt;b&gt;" in detail


def test_what_if_leaves_out_the_original_timeout():
    """A replay does not re-run addTimeout's stages, which belong to the original timer."""
    clock = Clock()
    d = Deferred()
    traced = lab.trace(d)
    d.addTimeout(5, clock)
    d.addCallback(double)
    d.callback(2)
    replay = traced.what_if(value=3)
    assert ("double",) == tuple(s.name for s in replay.stages) and 6 == replay.result
    assert "not replayed" in replay.notes[0]


def test_status_and_repr_stay_short():
    """The status line and repr of a 5,000-stage chain are one short line each."""
    d = Deferred()
    for _ in range(5000):
        d.addCallback(double)
    traced = lab.trace(d)
    d.callback(0)
    assert "result: 0" == traced.status
    assert len(repr(traced)) < 200 and "5000 stages" in repr(traced)


def test_importing_the_core_loads_no_reactor_crochet_or_widgets():
    """import lab.deferreds pulls in neither the reactor, crochet nor ipywidgets."""
    import json
    import subprocess
    import sys

    code = "import sys, json, lab.deferreds; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    forbidden = ("twisted.internet.reactor", "crochet", "ipywidgets")
    assert [] == [m for m in loaded if m.startswith(forbidden)]


def test_cancelling_a_coroutine_shows_the_cancel_stage_first():
    """Cancelling a coroutine's Deferred shows Twisted's cancel stage where it ran: first."""
    never = Deferred()

    async def waits():
        try:
            return await never
        except CancelledError:
            return "cancelled inside"

    traced = lab.trace(waits)
    traced.deferred.addCallback(str.upper)
    traced.deferred.cancel()
    assert ["await", "await", "cancel", "addCallback"] == [s.how for s in traced.stages]
    assert "CANCELLED INSIDE" == traced.result


def test_stepping_a_chain_fired_in_another_thread_is_refused():
    """A chain fired in another thread than its stepper's is not stepped in the wrong one."""
    d = chain(("addCallback", double))
    stepper = lab.step(d)
    worker = threading.Thread(target=d.callback, args=(1,))
    worker.start()
    worker.join()
    with pytest.raises(WrongThread, match="runner=lab.call"):
        stepper.step()


def test_a_huge_int_flowing_through_a_traced_chain_is_shown_not_raised():
    """An int too long for repr() (Python's digit limit) shows as its size, and the chain finishes."""
    d = Deferred()
    chain = lab.trace(d)
    d.addCallback(lambda value: value ** 3)
    d.callback(10 ** 2000)
    assert d.result == 10 ** 6000
    assert "int of about 6001 digits" in chain.stages[-1].output
