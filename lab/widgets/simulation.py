"""The simulation's view: virtual clock, queue, controls, and the sequence diagram as you step.

A view only: it reads a ``lab.Simulation`` and forwards clicks to it.  The
simulation runs in the kernel's thread (no reactor thread is involved), so
the view redraws directly when the simulation says something happened; a
run of many steps redraws once, at its end.
"""

import html
from typing import Any

import ipywidgets as widgets

from lab.errors import LabError
from lab.simulator import pending_html
from lab.widgets._html import error_html

__all__ = ["SimulationView"]

QUEUE_ROWS = 10
_WRAP = {"flex_flow": "row wrap"}  # at 1024 px the controls would be clipped on one line


def _button(text, icon, tip):
    return widgets.Button(description=text, icon=icon, tooltip=tip,
                          layout=widgets.Layout(width="auto", min_width="80px"))


class SimulationView(widgets.VBox):
    """Clock, queue panel (Step, Run to next timer, Run until idle), controls, sequence diagram.

    Every button has a programmatic twin (``view.step_button.click()``), so
    tests need no browser.  Controls: hold or release a connection's bytes,
    drop the next datagram, partition two hosts or heal the network.
    """

    def __init__(self, sim: Any, diagram_messages: int = 60) -> None:
        super().__init__()
        self.sim = sim
        self.diagram_messages = diagram_messages
        self.clock = widgets.HTML()
        self.queue = widgets.HTML()
        self.last = widgets.HTML()
        self.message = widgets.HTML()
        self.diagram = widgets.HTML(layout=widgets.Layout(overflow="auto", max_height="520px"))
        self.step_button = _button("Step", "step-forward", "Run exactly one event")
        self.timer_button = _button("Run to next timer", "clock-o",
                                    "Run events up to and including the next timer")
        self.idle_button = _button("Run until idle", "play", "Run until nothing can run")
        self.connection = widgets.Dropdown(description="connection", options=[],
                                           layout=widgets.Layout(width="auto"))
        self.direction = widgets.Dropdown(options=["both", "to_server", "to_client"],
                                          layout=widgets.Layout(width="110px"))
        self.hold_button = _button("Hold", "pause", "Hold this connection's bytes")
        self.release_button = _button("Release", "play-circle", "Let held bytes go on, in order")
        self.drop_button = _button("Drop next datagram", "trash",
                                   "The next datagram in the queue is lost")
        self.host_a = widgets.Dropdown(description="hosts", options=[],
                                       layout=widgets.Layout(width="auto"))
        self.host_b = widgets.Dropdown(options=[], layout=widgets.Layout(width="auto"))
        self.partition_button = _button("Partition", "chain-broken",
                                        "Cut the network between the two hosts")
        self.heal_button = _button("Heal", "link", "Mend every partition")
        self._wire()
        self.children = (
            self.clock,
            widgets.HBox([self.step_button, self.timer_button, self.idle_button]),
            self.queue,
            widgets.HBox([self.connection, self.direction, self.hold_button,
                          self.release_button, self.drop_button], layout=widgets.Layout(**_WRAP)),
            widgets.HBox([self.host_a, self.host_b, self.partition_button, self.heal_button],
                         layout=widgets.Layout(**_WRAP)),
            self.message,
            self.last,
            self.diagram,
        )
        self._listener = sim.subscribe(self._on_event)
        self.refresh()

    def _wire(self):
        actions = {
            self.step_button: lambda: self._show_last(self.sim.step()),
            self.timer_button: lambda: self._show_run(self.sim.run_to_next_timer()),
            self.idle_button: lambda: self._show_run(self.sim.run_until_idle()),
            self.hold_button: lambda: self.sim.hold(self._picked(), self.direction.value),
            self.release_button: lambda: self.sim.release(self._picked(), self.direction.value),
            self.drop_button: self._drop_next,
            self.partition_button: lambda: self.sim.partition(self.host_a.value,
                                                              self.host_b.value),
            self.heal_button: lambda: self.sim.heal(),
        }
        for button, action in actions.items():
            button.on_click(lambda _, act=action: self._do(act))

    def _do(self, action):
        self.message.value = ""
        try:
            action()
        except (LabError, ValueError, TypeError) as error:
            self.message.value = error_html(error)
        self.refresh()

    def _picked(self):
        if self.connection.value is None:
            raise ValueError("no open connection to pick; connect first.")
        return self.connection.value

    def _drop_next(self):
        datagrams = [p for p in self.sim.pending() if p.kind == "datagram" and not p.held]
        if not datagrams:
            raise ValueError("no datagram is waiting in the queue.")
        self.sim.drop(datagrams[0])

    def _show_last(self, happened):
        self.last.value = f"<pre class='lab-sim-last'>{html.escape(str(happened))}</pre>"

    def _show_run(self, ran):
        tail = "\n".join(str(e) for e in ran.events[-8:])
        more = f"... {len(ran) - 8} earlier\n" if len(ran) > 8 else ""
        self.last.value = (f"<pre class='lab-sim-last'>{html.escape(repr(ran))}\n"
                           f"{html.escape(more + tail)}</pre>")

    def _on_event(self, what):
        if self.sim.in_run:
            return
        self.refresh()

    def refresh(self) -> None:
        """Redraw clock, queue, controls' choices and the diagram from the simulation."""
        sim = self.sim
        self.clock.value = (f"<div class='lab-sim-clock'><b>virtual time t={sim.seconds():.6f} s"
                            f"</b> &middot; {len(sim.log)} events run &middot; "
                            f"{len(sim.pending())} queued</div>")
        self.queue.value = pending_html(sim, QUEUE_ROWS)
        picked = self.connection.value
        choices = [(f"#{c.id} {c.to_server.name} ({c.state})", c.id) for c in sim.connections()]
        self.connection.options = choices
        ids = [cid for _, cid in choices]
        self.connection.value = picked if picked in ids else (ids[-1] if ids else None)
        hosts = list(sim.hosts)
        for picker, default in ((self.host_a, 0), (self.host_b, 1)):
            value = picker.value
            picker.options = hosts
            if value in hosts:
                picker.value = value
            elif len(hosts) > default:
                picker.value = hosts[default]
        self.diagram.value = sim.diagram(self.diagram_messages).svg()

    def close(self) -> None:
        """Stop listening to the simulation, then close the widget."""
        self.sim.unsubscribe(self._listener)
        super().close()
