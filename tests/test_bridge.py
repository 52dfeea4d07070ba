"""The reactor bridge: start, call, submit, wait, deliver, and their errors, on the real reactor."""

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest
from twisted.internet import defer, task
from twisted.logger import globalLogPublisher

import lab
from lab import bridge

pytestmark = pytest.mark.reactor


def test_start_twice_returns_the_same_running_handle(lab_reactor):
    """Re-running lab.start() (as re-running a cell does) gives the same handle, still running."""
    first, second = lab.start(), lab.start()
    assert first is second
    assert first.running
    assert "twisted" in repr(first) and "crochet" in repr(first)
    assert "running" in first._repr_html_()


def test_call_returns_a_plain_value(lab_reactor):
    """A function's return value comes back to the caller."""
    assert 42 == lab.call(lambda: 42)


def test_call_runs_in_the_reactor_thread(lab_reactor):
    """The function runs in the reactor thread, not the caller's."""
    assert lab.call(threading.get_ident) != threading.get_ident()
    assert lab.call(bridge.in_reactor_thread)


def test_call_waits_for_a_deferred(lab_reactor):
    """A Deferred's eventual result is returned."""
    assert "late" == lab.call(task.deferLater, lab_reactor, 0.05, lambda: "late")


def test_call_awaits_a_coroutine(lab_reactor):
    """An async def function is driven to its result."""
    async def add_later():
        await task.deferLater(lab_reactor, 0.01, lambda: None)
        return 1 + 2

    assert 3 == lab.call(add_later)


def test_call_reraises_with_type_message_and_remote_traceback(lab_reactor):
    """An exception in the reactor comes back with its type, message and a readable traceback."""
    def broken_in_reactor():
        raise KeyError("no such session")

    with pytest.raises(KeyError, match="no such session") as caught:
        lab.call(broken_in_reactor)
    notes = "\n".join(caught.value.__notes__)
    assert "raised in the reactor thread" in notes
    assert "broken_in_reactor" in notes


def test_call_reraises_a_deferred_failure(lab_reactor):
    """A Deferred that fails raises the failure's exception in the caller."""
    with pytest.raises(ZeroDivisionError):
        lab.call(lambda: defer.maybeDeferred(lambda: 1 / 0))


def test_timeout_raises_cancels_and_logs_nothing_critical(lab_reactor):
    """A timeout raises LabTimeout, cancels the Deferred, and leaves no CRITICAL log behind."""
    cancelled = threading.Event()
    critical = []

    def observer(event):
        if event.get("log_level") is not None and event["log_level"].name == "critical":
            critical.append(event)

    globalLogPublisher.addObserver(observer)
    try:
        with pytest.raises(lab.LabTimeout, match="still running"):
            lab.call(lambda: defer.Deferred(lambda d: cancelled.set()), timeout=0.1)
        assert cancelled.wait(5)
    finally:
        globalLogPublisher.removeObserver(observer)
    assert [] == critical


def test_call_from_the_reactor_thread_raises_instead_of_deadlocking(lab_reactor):
    """lab.call inside the reactor thread says why it cannot wait there."""
    with pytest.raises(lab.WrongThread, match="deadlock"):
        lab.call(lambda: lab.call(int), timeout=5)


def test_submit_returns_at_once_and_finishes_later(lab_reactor):
    """submit() does not block; the handle reports done and gives the result."""
    gate = defer.Deferred()
    handle = lab.submit(lambda: gate)
    assert not handle.done
    lab.call(gate.callback, "opened")
    assert "opened" == handle.wait(5)
    assert handle.done


def test_submit_cancel_cancels_the_work(lab_reactor):
    """cancel() on a pending handle cancels its Deferred, and wait() raises CancelledError."""
    handle = lab.submit(lambda: defer.Deferred())
    lab.call(lambda: None)  # the work has started in the reactor
    handle.cancel()
    with pytest.raises(defer.CancelledError):
        handle.wait(5)


def test_submit_rejects_a_non_callable(lab_reactor):
    """Passing a value where a function is needed is a TypeError that says so."""
    with pytest.raises(TypeError, match="needs a callable"):
        lab.submit(42)


def test_await_wait_does_not_block_the_event_loop(lab_reactor):
    """await lab.wait(handle) lets other asyncio tasks run while it waits."""
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main():
        tick_task = asyncio.ensure_future(ticker())
        handle = lab.submit(task.deferLater, lab_reactor, 0.2, lambda: "done")
        result = await lab.wait(handle)
        tick_task.cancel()
        return result

    assert "done" == asyncio.run(main())
    assert len(ticks) >= 5


def test_await_wait_accepts_a_deferred(lab_reactor):
    """A Deferred made in the reactor can be awaited directly."""
    # Wrapped in a list so that lab.call hands back the Deferred, not its result.
    [d] = lab.call(lambda: [task.deferLater(lab_reactor, 0.05, lambda: "value")])

    async def main():
        return await lab.wait(d)

    assert "value" == asyncio.run(main())


def test_wait_rejects_other_things(lab_reactor):
    """lab.wait on something that is neither a Deferred nor a handle says what to do."""
    with pytest.raises(TypeError, match="lab.submit"):
        lab.wait(lambda: None)


def test_deliver_keeps_a_broken_view_from_raising(lab_reactor, capsys):
    """A view callback that raises is recorded and reported, and the caller carries on."""
    def broken_view():
        raise RuntimeError("view exploded")

    assert lab.call(bridge.deliver, broken_view) is None
    assert "view exploded" in bridge.delivery_errors[-1]
    assert 5 == lab.call(bridge.deliver, lambda: 5)


def _run_python(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)


def test_asyncio_reactor_on_the_running_loop_is_reported():
    """Installing the asyncio reactor on the kernel's running loop is detected with advice."""
    result = _run_python("""
        import asyncio
        async def main():
            from twisted.internet import asyncioreactor
            asyncioreactor.install(asyncio.get_running_loop())
            import lab
            try:
                lab.start()
            except lab.ReactorNotRunning as error:
                print("REPORTED:", error)
        asyncio.run(main())
    """)
    assert "REPORTED:" in result.stdout, result.stderr
    assert "Restart the kernel" in result.stdout


def test_shutdown_hooks_run_at_interpreter_exit_and_free_the_port():
    """At exit, hooks registered with on_shutdown run in the reactor, so ports are freed."""
    result = _run_python("""
        import lab, socket
        from lab import bridge
        from twisted.internet import protocol
        lab.start()
        from twisted.internet import reactor
        port = lab.call(reactor.listenTCP, 0, protocol.Factory(), interface="127.0.0.1")
        bridge.on_shutdown(lambda: port.stopListening())
        bridge.on_shutdown(lambda: print("hook ran in reactor:", bridge.in_reactor_thread()))
        print("PORT", port.getHost().port, flush=True)
    """)
    assert "hook ran in reactor: True" in result.stdout, result.stderr
    port = int(result.stdout.split("PORT")[1].split()[0])
    import socket

    with socket.socket() as sock:  # the port can be bound again: it was freed
        sock.bind(("127.0.0.1", port))
