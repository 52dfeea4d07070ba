"""reactor_state(): timers, sockets, listeners and connections as a learner would read them."""

import pytest

import lab
from lab.adapters.echo import EchoFactory
from lab.model import debug_timers, reactor_state, watch

pytestmark = pytest.mark.reactor


def later(delay, fn, *args):
    """Schedule ``fn`` with callLater in the reactor thread; return the DelayedCall."""
    from twisted.internet import reactor

    def schedule():
        return reactor.callLater(delay, fn, *args)

    return lab.call(schedule)


def test_a_pending_call_later_shows_with_its_callable_and_time_left(lab_reactor):
    """A callLater shows its callable, its arguments and the seconds left."""
    call = later(30, print, "tick")
    try:
        state = reactor_state()
        mine = [t for t in state.delayed_calls if t.callable == "print"]
        assert 1 == len(mine)
        assert "'tick'" == mine[0].args
        assert 25 < mine[0].time_left <= 30
    finally:
        lab.call(call.cancel)
    assert not [t for t in reactor_state().delayed_calls if t.callable == "print"]


def test_crochets_reaper_is_hidden_by_default_and_labelled_on_request(lab_reactor):
    """Crochet's reapAllProcesses timer is hidden (and counted), or shown with a label."""
    hidden = reactor_state()
    assert not [t for t in hidden.delayed_calls if "reapAllProcesses" in t.callable]
    assert hidden.hidden >= 1
    shown = reactor_state(include_internal=True)
    reaper = [t for t in shown.delayed_calls if "reapAllProcesses" in t.callable]
    assert ["crochet: reaps finished child processes (internal)"] == [t.label for t in reaper]


def test_lab_watches_are_internal_too(lab_reactor):
    """A view's refresh timer is labelled as the lab's and hidden by default."""
    handle = watch(lambda: None, interval=5)
    try:
        labels = [t.label for t in reactor_state(include_internal=True).delayed_calls]
        assert "lab view refresh every 5 s (internal)" in labels
        assert not [t for t in reactor_state().delayed_calls if "_watch" in t.callable]
    finally:
        handle.stop()


def test_creator_stack_is_recorded_when_debugging(lab_reactor):
    """With debug_timers on, a new DelayedCall carries the stack that created it."""
    debug_timers(True)
    try:
        call = later(30, print, "debugged")
    finally:
        debug_timers(False)
    try:
        mine = [t for t in reactor_state().delayed_calls if t.args == "'debugged'"]
        assert any("test_reactor_state.py" in line for line in mine[0].creator)
    finally:
        lab.call(call.cancel)


def test_listening_ports_and_connections_are_listed(lab_reactor):
    """A listener's port shows under its name, and an open connection shows both sides."""
    listener = lab.listen(EchoFactory(), name="watched")
    client = lab.connect(listener)
    try:
        state = reactor_state()
        assert [f"listening 127.0.0.1:{listener.port}"] == [
            s.description for s in state.listening if s.listener == "watched"]
        sides = [s.description for s in state.connections if f":{listener.port}" in s.description]
        assert 2 == len(sides)
        assert {"server side", "client side"} == {d.split("(")[-1].rstrip(")") for d in sides}
        assert all(s.reading for s in state.readers)
    finally:
        client.close()
        listener.stop()
    assert not [s for s in reactor_state().listening if s.listener == "watched"]


def test_snapshot_renders_as_text_and_html(lab_reactor):
    """The snapshot shows as a text summary and as HTML tables naming the reactor."""
    state = reactor_state()
    assert state.text().startswith(f"reactor {type(lab_reactor).__name__} running")
    assert "<table>" in state._repr_html_()


def test_live_watches_are_bounded(lab_reactor):
    """Past MAX_WATCHES live refreshers the oldest stops, so forgotten views pile up no timers."""
    from lab.model._watch import MAX_WATCHES

    handles = [watch(lambda: None, interval=60) for _ in range(MAX_WATCHES + 3)]
    try:
        assert [False] * 3 + [True] * MAX_WATCHES == [h.running for h in handles]
    finally:
        for handle in handles:
            handle.stop()
