"""Chains that live in the reactor thread, traced and stepped from the test's (kernel's) thread."""

import threading

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.protocols.wire import Echo

import lab
from lab.widgets.deferreds import ChainView

pytestmark = pytest.mark.reactor


def plus_one(value, threads):
    """A callback that notes which thread ran it."""
    threads.append(threading.get_ident())
    return value + 1


def later_chain(reactor, threads):
    """A Deferred that the reactor fires shortly, with two stages."""
    d = deferLater(reactor, 0.01, lambda: 20)
    d.addCallback(plus_one, threads)
    d.addCallback(str)
    return d


def test_reactor_chain_is_stepped_in_the_reactor_and_read_here(lab_reactor):
    """step() from this thread runs each stage in the reactor thread, one at a time."""
    threads = []
    stepper = lab.step(later_chain, lab_reactor, threads, runner=lab.call)
    timer = stepper.step(timeout=10)  # deferLater's own stage calls the delayed function
    assert ("deferLater: call your function", "20") == (timer.name, timer.output)
    assert [] == threads
    added = stepper.step()
    assert ("plus_one", "21") == (added.name, added.output)
    assert [lab.call(threading.get_ident)] == threads != [threading.get_ident()]
    assert 2 == stepper.position and 21 == stepper.current
    stepper.run()
    assert stepper.done and "21" == stepper.result


def test_reactor_chain_reset_replays_in_the_reactor(lab_reactor):
    """reset() replays a reactor chain's stages in the reactor thread, paused at the start."""
    threads = []
    stepper = lab.step(later_chain, lab_reactor, threads, runner=lab.call)
    stepper.wait(10)
    stepper.run()
    stepper.reset()
    assert 0 == stepper.position
    stepper.run()
    assert "21" == stepper.result and 2 == len(threads)
    assert {lab.call(threading.get_ident)} == set(threads)


def test_reactor_chain_traced_without_stepping(lab_reactor):
    """A reactor chain traced from here records every stage as the reactor runs it."""
    threads = []
    traced = lab.trace(later_chain, lab_reactor, threads, runner=lab.call).wait(10)
    assert ("deferLater: call your function", "plus_one", "str") == tuple(
        s.name for s in traced.stages)
    assert ("callback",) * 3 == traced.path and "21" == traced.result


def test_stepper_made_in_the_reactor_thread_steps_from_here(lab_reactor):
    """A stepper created inside lab.call steps through the bridge without being told how."""

    def make():
        d = Deferred()
        d.addCallback(lambda value: value * 3)
        return lab.step(d)

    stepper = lab.call(make)
    lab.call(stepper.deferred.callback, 2)
    assert 0 == stepper.position
    assert "6" == stepper.step().output and stepper.done


def test_chain_made_here_and_fired_in_the_reactor_steps_without_runner(lab_reactor):
    """A stepper made in this thread whose Deferred fired in the reactor steps there, untold."""
    threads = []
    d = Deferred()
    d.addCallback(plus_one, threads).addCallback(str).addCallback(len)
    stepper = lab.step(d)
    lab.call(d.callback, 41)
    assert 0 == stepper.position and 41 == stepper.current
    first = stepper.step()
    assert ("plus_one", "42") == (first.name, first.output)
    assert ("str", "'42'") == (stepper.step().name, stepper.stages[1].output)
    assert [lab.call(threading.get_ident)] == threads != [threading.get_ident()]
    view = ChainView(stepper)
    assert "paused before stage #2" in view.status.value
    view.step_button.click()
    assert stepper.done and 2 == stepper.result
    assert "result: 2" in view.status.value
    view.close()


def test_chain_fired_in_the_reactor_runs_until_a_breakpoint_from_here(lab_reactor):
    """run_until() and reset() on a chain the reactor fired work from here without runner=."""
    threads = []
    d = Deferred()
    d.addCallback(plus_one, threads).addCallback(plus_one, threads).addCallback(str)
    stepper = lab.step(d)
    lab.call(d.callback, 1)
    ran = stepper.run_until(2)
    assert ("2", "3") == tuple(s.output for s in ran) and 2 == stepper.position
    assert {lab.call(threading.get_ident)} == set(threads)
    stepper.run()
    assert "3" == stepper.result


def test_wait_in_the_chains_own_thread_is_refused():
    """wait() on an unfinished chain of this thread would block forever: WrongThread."""
    with pytest.raises(lab.WrongThread, match="block it forever"):
        lab.trace(Deferred()).wait(1)


def test_widget_follows_stages_run_in_the_reactor_thread(lab_reactor):
    """The view redraws when the reactor-side chain reaches its gate, and steps it on click."""

    def make():
        d = Deferred()
        d.addCallback(lambda value: value + 1).addCallback(str)
        return lab.step(d)

    stepper = lab.call(make)
    view = ChainView(stepper)
    assert "waiting for the Deferred to fire" in view.status.value
    lab.call(stepper.deferred.callback, 41)
    assert "paused before stage #0" in view.status.value
    view.step_button.click()
    assert "paused before stage #1" in view.status.value and "42" in view.ladder.value
    view.run_button.click()
    assert "result: &#x27;42&#x27;" in view.status.value
    view.close()


class _Collect(Protocol):
    """A client protocol that hands the first bytes it receives to a Deferred."""

    def __init__(self):
        self.received = Deferred()

    def dataReceived(self, data):
        if not self.received.called:
            self.received.callback(data)


def _send(protocol, line):
    """Stage: write a line, and wait (nested Deferred) for the echo."""
    protocol.transport.write(line)
    return protocol.received


def test_loopback_tcp_chain_waits_on_the_network_then_steps(lab_reactor):
    """A chain on a real TCP echo connection waits on the reply, then steps on with it."""
    port = lab.call(lambda: TCP4ServerEndpoint(lab_reactor, 0, interface="127.0.0.1")
                    .listen(Factory.forProtocol(Echo)))
    closing = []

    def connect():
        endpoint = TCP4ClientEndpoint(lab_reactor, "127.0.0.1", port.getHost().port)
        d = endpoint.connect(Factory.forProtocol(_Collect))
        d.addCallback(lambda protocol: closing.append(protocol) or protocol)
        d.addCallback(_send, b"ping")
        d.addCallback(bytes.decode)
        return d

    try:
        stepper = lab.step(connect, runner=lab.call)
        stepper.run_until(1, timeout=10)  # connected
        sent = stepper.step()  # sent; the chain waits on the echo (it may be back already)
        assert sent.state in ("waiting", "done")
        stepper.wait(10)  # the reply reaches the gate before stage #2
        assert "b'ping'" == stepper.stages[1].output and 2 == stepper.position
        stepper.run()
        assert "ping" == stepper.result
    finally:
        lab.call(lambda: [p.transport.loseConnection() for p in closing])
        lab.call(port.stopListening)
