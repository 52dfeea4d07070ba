"""Live views share one refresh timer, views that are gone cost nothing, and exit is quiet."""

import gc
import subprocess
import sys
import textwrap

import pytest

import lab
from lab.model import stop_all
from lab.model import reactor_state
from lab.model import _watch
from lab.model._watch import timer_count, watch
from lab.widgets import ClientConsole, ConversationView, ListenersPanel
from tests.conftest import ROOT
from tests.polling import eventually

pytestmark = pytest.mark.reactor


def lab_timers():
    """The lab's own view-refresh timers pending in the reactor now."""
    state = reactor_state(include_internal=True)
    return len([t for t in state.delayed_calls if (t.label or "").startswith("lab view refresh")])


def test_repeated_views_of_one_listener_share_one_timer(lab_reactor):
    """Five conversation views, three "re-runs" of a panel and a console: one timer per interval."""
    # Other tests' timers stop on their next tick once nothing watches; count what stays.
    eventually(lambda: timer_count() == 0, limit=2)
    others = timer_count()
    listener = lab.listen("echo", name="timers")
    views = []
    try:
        for _ in range(5):
            views.append(ConversationView(listener))
        for _ in range(3):  # re-running a cell makes a new panel beside the old one
            views.append(ListenersPanel())
        views.append(ClientConsole(listener))
        # conversation and console share one timer at 0.25 s, the panels one at 0.5 s
        tickers = {view._watch.interval: set() for view in views}
        for view in views:
            tickers[view._watch.interval].add(view._watch._ticker)
        assert {0.25: 1, 0.5: 1} == {i: len(t) for i, t in tickers.items()}
        assert timer_count() <= 2 + others
        assert eventually(lambda: lab_timers() <= 2 + others)
    finally:
        for view in views:
            view.close()
        stop_all()
    assert eventually(lambda: timer_count() <= others and lab_timers() <= others)


def test_a_collected_view_stops_being_called(lab_reactor):
    """A watch on a view's method ends when the view is garbage-collected."""
    calls = []

    class View:
        def refresh(self):
            calls.append(1)

    view = View()
    handle = watch(view.refresh, interval=0.05)
    assert eventually(lambda: calls)
    del view
    gc.collect()
    assert eventually(lambda: not handle.running)
    # Its interval's timer goes too (views other tests left open may keep timers of their own).
    assert eventually(lambda: 0.05 not in _watch._tickers)


def test_views_left_open_at_exit_print_no_tracebacks():
    """Views never closed by the user are collected at interpreter exit without any traceback."""
    script = textwrap.dedent("""
        import lab
        from lab.widgets import ClientConsole, ConversationView, ListenersPanel, ReactorView
        lab.start()
        listener = lab.listen("echo")
        views = [ConversationView(listener), ClientConsole(listener), ListenersPanel(),
                 ReactorView(auto=True), lab.dashboard()]
        print("made", len(views))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert "made 5" in result.stdout
    assert "Traceback" not in result.stderr and "ReactorNotRunning" not in result.stderr, \
        result.stderr
