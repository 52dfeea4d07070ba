"""Tracing and stepping never change what a chain computes; the path follows Twisted's rules."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

import lab


def add_one(value):
    """Callback: a new value."""
    return value + 1


def explode(value):
    """Callback or errback: raise, so the result becomes a Failure."""
    raise ValueError(value)


def recover(failure):
    """Errback: recover with a value."""
    return 100


def pass_on(failure):
    """Errback: hand the Failure on unchanged."""
    return failure


CALLBACKS = {"add_one": add_one, "explode": explode}
ERRBACKS = {"recover": recover, "pass_on": pass_on, "explode": explode}
stages = st.lists(
    st.one_of(
        st.tuples(st.just("addCallback"), st.sampled_from(sorted(CALLBACKS)), st.none()),
        st.tuples(st.just("addErrback"), st.none(), st.sampled_from(sorted(ERRBACKS))),
        st.tuples(st.just("addCallbacks"), st.sampled_from(sorted(CALLBACKS)),
                  st.sampled_from(sorted(ERRBACKS))),
    ),
    max_size=12,
)
starts = st.one_of(st.integers(-5, 5), st.just("fail"))


def build(plan, start):
    """A Deferred with ``plan``'s stages; returns (deferred, fire) where fire() starts it."""
    d = Deferred()
    for how, cb, eb in plan:
        if how == "addCallback":
            d.addCallback(CALLBACKS[cb])
        elif how == "addErrback":
            d.addErrback(ERRBACKS[eb])
        else:
            d.addCallbacks(CALLBACKS[cb], ERRBACKS[eb])
    if start == "fail":
        return d, lambda: d.errback(KeyError("start"))
    return d, lambda: d.callback(start)


def expected_path(plan, start):
    """Twisted's rule: a value meets the callback side, a Failure the errback side."""
    failed, path = start == "fail", []
    for _, cb, eb in plan:
        name = eb if failed else cb
        if name is None:
            path.append("skipped")
            continue
        path.append("errback" if failed else "callback")
        failed = name in ("explode", "pass_on")
    return tuple(path)


def outcome(result):
    """Comparable form of a chain's result: the value, or the Failure's exception type."""
    return result.type if isinstance(result, Failure) else result


def untraced_outcome(plan, start):
    """What the chain gives with no lab involved."""
    d, fire = build(plan, start)
    fire()
    results = []
    d.addBoth(results.append)
    return outcome(results[0])


@settings(max_examples=150, deadline=None)
@given(stages, starts)
def test_trace_matches_twisted(plan, start):
    """A traced chain ends with Twisted's own result and takes the path Twisted's rules give."""
    d, fire = build(plan, start)
    traced = lab.trace(d)
    fire()
    assert untraced_outcome(plan, start) == outcome(traced.result)
    assert expected_path(plan, start) == traced.path
    d.addErrback(lambda failure: None)


@settings(max_examples=100, deadline=None)
@given(stages, starts)
def test_stepping_one_stage_at_a_time_matches_twisted(plan, start):
    """Stepping each stage separately gives the same result and path as running untraced."""
    d, fire = build(plan, start)
    stepper = lab.step(d)
    fire()
    for _ in plan:
        stepper.step()
    assert stepper.done
    assert untraced_outcome(plan, start) == outcome(stepper.result)
    assert expected_path(plan, start) == stepper.path
    d.addErrback(lambda failure: None)
    stepper.run()
