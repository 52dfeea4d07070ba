"""The simulation view: buttons step and run the simulation, controls hold and partition, the diagram grows."""

import lab
from lab.widgets import SimulationView


def chat_view():
    """A view over a chat room with two members, not yet run."""
    sim = lab.simulation()
    room = sim.listen("chat", 6667)
    members = [sim.connect(room, host=nick) for nick in ("ada", "bob")]
    return sim, SimulationView(sim), members


def test_step_button_runs_one_event_and_shows_it():
    """Step runs exactly one event; the clock, queue and last-step pane show it."""
    sim, view, _ = chat_view()
    assert "t=0.000000" in view.clock.value and "connect" in view.queue.value
    view.step_button.click()
    assert 1 == sum(1 for e in sim.log if e.kind != "control")
    assert "t=0.010000" in view.clock.value and "SYN" in view.last.value


def test_run_until_idle_and_next_timer_buttons():
    """Run until idle empties the queue but for timers; Run to next timer stops after a timer."""
    sim, view, members = chat_view()
    view.idle_button.click()
    assert "* welcome" in members[0].received.decode()
    sim.callLater(2, lambda: None)
    view.timer_button.click()
    assert "timer" == sim.log[-1].kind
    view.timer_button.click()
    assert "no timer is pending" in view.message.value


def test_controls_hold_release_partition_and_heal():
    """Hold shows held bytes in the queue, Release lets them go; Partition and Heal cut and mend."""
    sim, view, (ada, bob) = chat_view()
    view.idle_button.click()
    view.connection.value = ada.connection.id
    view.hold_button.click()
    ada.send("hello\r\n")
    view.refresh()
    assert "held" in view.queue.value
    view.release_button.click()
    view.idle_button.click()
    assert "hello" in bob.received.decode()
    view.host_a.value, view.host_b.value = "bob", "server"
    view.partition_button.click()
    assert sim.partitioned("bob", "server")
    view.heal_button.click()
    assert not sim.partitioned("bob", "server")


def test_the_diagram_grows_as_you_step():
    """The SVG gains arrows as events run, including after steps made in code."""
    sim, view, _ = chat_view()
    before = view.diagram.value.count("<g>")
    sim.run_until_idle()
    assert view.diagram.value.count("<g>") > before and ">ada<" in view.diagram.value


def test_errors_show_in_the_view_and_it_stays_usable():
    """Stepping an empty queue shows the error in the message area; the buttons still work."""
    sim = lab.simulation()
    view = SimulationView(sim)
    view.step_button.click()
    assert "QueueEmpty" in view.message.value
    view.hold_button.click()
    assert "no open connection" in view.message.value
    sim.callLater(1, lambda: None)
    view.step_button.click()
    assert "" == view.message.value and "t=1.000000" in view.clock.value
