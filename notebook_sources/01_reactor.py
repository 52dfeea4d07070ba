"""Write notebooks/01-reactor.ipynb (without outputs) from the cells below.

    python notebook_sources/01_reactor.py     # or build.py for every notebook

tests/test_nb_01_reactor.py executes it in a real kernel.
"""

from _notebook import write

CELLS = [
    ("md", """\
# The reactor: Twisted's event loop

Twisted runs one **event loop**, the *reactor*. It waits for something to happen (a socket
becomes readable, a timer falls due, another thread hands it work), calls the function
registered for it (a *handler*, or callback), and goes back to waiting. Nothing in a handler may
block: while it runs, nothing else does.

In a notebook the reactor cannot run in the kernel's own thread (the kernel must keep answering
cells), and it cannot be started twice in one process. `lab.start()` runs it once, in a
background thread, with crochet."""),
    ("code", """\
import lab

status = lab.start()   # harmless to run again
status"""),
    ("md", """\
## Talking to the reactor from a cell

The reactor belongs to its thread. A cell hands it work with `lab.call(fn, *args)`, which runs
`fn` **in the reactor thread** and brings the result (or the exception) back. `callLater`
schedules a call and returns a `DelayedCall` that can be inspected and cancelled."""),
    ("code", """\
from twisted.internet import reactor

def in_which_thread():
    import threading
    return threading.current_thread().name

print("this cell runs in:", in_which_thread())
print("lab.call runs in: ", lab.call(in_which_thread))

later = lab.call(reactor.callLater, 60, print, "never printed")
due_in = later.getTime() - lab.call(reactor.seconds)
print("active:", later.active(), "| due in about", round(due_in), "s")
lab.call(later.cancel)
print("active after cancel:", later.active())"""),
    ("md", """\
## The seed's `print_time` timer, done right

The article's example is:

```python
from twisted.internet import reactor
def print_time(reactor):
    print("Current time:", time.time())
    reactor.callLater(1, print_time, reactor)
reactor.callLater(1, print_time, reactor)
reactor.run()
```

Four things go wrong in a notebook:

1. `time` is never imported: the first tick raises `NameError` in the reactor thread, and the
   timer silently stops. Twisted only logs it; the lab also shows a notice under the cell that
   scheduled the timer and keeps it in `lab.reactor_errors()` (the next cell shows it).
2. `reactor.run()` blocks the cell forever, and a reactor cannot be run again after it stops.
3. It never ends: there is no way to stop it but stopping the reactor.
4. `print` from the reactor thread: under plain ipykernel 7 the text lands in **whichever cell
   is running at that moment**. The lab sends it under the cell that scheduled the timer, but
   that cell may be long finished: a widget is the better place for a live value.

Done right: import `time`, let `lab.start()` own the reactor, stop after a few ticks and say
so with a Deferred, and show each tick in a widget through `lab.bridge.deliver`, the one door
from the reactor thread to the notebook."""),
    ("code", """\
import asyncio

from twisted.internet import reactor


def seed_print_time(reactor):          # the seed's code, without its `import time`
    print("Current time:", time.time())
    reactor.callLater(1, seed_print_time, reactor)


# First the seed's timer as it is; "done right" follows.
lab.call(reactor.callLater, 0.1, seed_print_time, reactor)
await asyncio.sleep(0.5)                # the NameError notice appears below
print("captured:", lab.reactor_errors()[-1])"""),
    ("code", """\
import time

import ipywidgets as widgets
from twisted.internet.defer import Deferred

from lab import bridge

clock = widgets.Label("waiting for the first tick")
ticks = []

def print_time(reactor, remaining, finished):
    now = time.time()
    ticks.append(now)
    text = f"Current time: {now:.3f} ({remaining - 1} ticks to go)"
    bridge.deliver(setattr, clock, "value", text)
    if remaining > 1:
        reactor.callLater(0.2, print_time, reactor, remaining - 1, finished)
    else:
        finished.callback(len(ticks))

finished = Deferred()
lab.call(reactor.callLater, 0.2, print_time, reactor, 5, finished)
clock"""),
    ("code", """\
count = await lab.wait(finished, timeout=10)   # waits without blocking the kernel
gaps = [round(b - a, 1) for a, b in zip(ticks, ticks[1:])]
print(f"print_time ran {count} times, about {gaps[0]} s apart")
print(f"the label says: {clock.value!r}")"""),
    ("md", """\
The same timer with Twisted's `LoopingCall`, which does the rescheduling for you and can be
stopped: `loop.start(interval)` returns a Deferred that fires when `loop.stop()` is called.
`lab.call` would wait for that Deferred, so hand the start over with `lab.submit`, which returns
a handle at once."""),
    ("code", """\
from twisted.internet.task import LoopingCall

beats = []
loop = LoopingCall(lambda: beats.append(time.time()))
running = lab.submit(loop.start, 0.1)           # returns at once; done when the loop stops
lab.call(reactor.callLater, 0.55, loop.stop)
await lab.wait(running)
print("LoopingCall beat", len(beats), "times, then stopped")"""),
    ("md", """\
## Never block the reactor

A handler that blocks holds up every other event. Here the reactor thread sleeps for half a
second while a timer is due after 0.1 s: the timer fires late, because the loop was not
looping."""),
    ("code", """\
due = {}

def note_firing():
    due["fired"] = time.monotonic()

start = time.monotonic()
lab.call(reactor.callLater, 0.1, note_firing)
lab.call(time.sleep, 0.5)                      # blocks the reactor thread: don't do this
await lab.wait(lab.submit(lambda: None))
late = due["fired"] - start - 0.1
verdict = ": the reactor was blocked" if late >= 0.3 else ""
print(f"the 0.1 s timer fired {late:.1f} s late{verdict}")"""),
    ("md", """\
## The reactor view

`lab.reactor_state()` is a snapshot of what the reactor is waiting for: pending `DelayedCall`s
(what they will call, in how long, and, with debugging on, where they were created), the
sockets it reads from and writes to, listening ports and open connections.

Crochet keeps a timer of its own (`reapAllProcesses`, every 0.1 s) and the lab's views refresh
with timers too; they are hidden unless you ask for them."""),
    ("code", """\
from lab.model import debug_timers

def remind(message):
    print(message)

def schedule_reminder():
    return reactor.callLater(30, remind, "stretch your legs")

debug_timers(True)                             # record where each new DelayedCall is created
reminder = lab.call(schedule_reminder)
debug_timers(False)

state = lab.reactor_state()
print(state.text())
where = [line for line in state.delayed_calls[0].creator if "in schedule_reminder" in line]
print("created by:", where[0].strip().splitlines()[-1].strip())"""),
    ("code", """\
print(lab.reactor_state(include_internal=True).text())"""),
    ("md", """\
The same snapshot as a widget that refreshes itself (tick *show internal* to see crochet's
timer and the reactor's waker; tick *creator stacks* to record where new timers come from):"""),
    ("code", """\
from lab.widgets.reactor_view import ReactorView

view = ReactorView(auto=True, interval=1.0)
view"""),
    ("code", """\
lab.call(reminder.cancel)
view.refresh()
print("pending after cancel:", [t.callable for t in lab.reactor_state().delayed_calls])"""),
    ("md", """\
## The reactor, one turn at a time

The real reactor runs by itself, in its own thread, as fast as events come. To *see* what it does
on each turn, the lab has a simulated one: `lab.simulation()` is a reactor-like world in this
thread, with a **virtual clock** and an in-memory network, that runs only when you tell it to.
Everything it will do is in one queue: `sim.pending()`. `sim.step()` runs exactly one event and
says what it scheduled; `sim.run_until_idle()`, `sim.run_until(t)` and `sim.advance(seconds)` run
more. Each timer runs at its own virtual time, and a `callLater(0)` waits for the next turn.

The seed's `print_time`, with the simulation as its reactor. Its `print` is harmless here: the
callback runs in this thread, during the cell that steps it."""),
    ("code", """\
sim = lab.simulation(seed=0)

def print_time(reactor, remaining):
    print(f"Current time: {reactor.seconds():.1f} (virtual)")
    if remaining > 1:
        reactor.callLater(1, print_time, reactor, remaining - 1)

sim.callLater(1, print_time, sim, 3)
print("queued:", *sim.pending(), sep="\\n  ")"""),
    ("code", """\
happened = sim.step()      # one turn: the first tick
print(happened)"""),
    ("code", """\
print(sim.run_until_idle())
print("the clock says", sim.seconds(), "- no real second went by")"""),
    ("md", """\
Why not Twisted's own test clock, `task.Clock`? Its `advance(10)` moves the clock to the end
first and then runs what is due, so every call sees the final time, and a call scheduled along
the way (a chain of `deferLater`s) waits for the next `advance`. The simulation moves the clock
to each due time in turn:"""),
    ("code", """\
from twisted.internet import task

def chain(clock, seen, n=3):
    def tick(left):
        seen.append(clock.seconds())
        if left:
            return task.deferLater(clock, 1, tick, left - 1)
    return task.deferLater(clock, 1, tick, n)

clock, on_clock = task.Clock(), []
chain(clock, on_clock)
clock.advance(10)
other, on_sim = lab.simulation(), []
chain(other, on_sim)
other.advance(10)
print("task.Clock().advance(10) ran the ticks at:", on_clock)
print("simulation.advance(10) ran the ticks at:  ", on_sim)"""),
    ("md", """\
### An echo exchange, event by event

Two hosts, `client` and `server`, 10 ms apart (the default latency). Connecting is a SYN reaching
the server, then its answer reaching the client; each write becomes bytes in flight that arrive
one latency later and call `dataReceived`. Each step below is one turn of the reactor."""),
    ("code", """\
echo = sim.listen("echo", 7, host="server")
client = sim.connect(echo, host="client")
client.send("hello, reactor")
while sim.pending():
    print(sim.step())
print("client got:", client.read())"""),
    ("md", """\
The same exchange as a sequence diagram: hosts are columns, time runs down, each arrow is a message
(its slope is the latency). The widget below it steps, runs and holds; the diagram grows as you
step."""),
    ("code", """\
client.send("again")
sim.diagram()"""),
    ("code", """\
sim.widget()"""),
    ("md", """\
Next: `02-protocols.ipynb` puts sockets on the loop: protocols, factories and transports."""),
]



if __name__ == "__main__":
    write(CELLS, "01-reactor.ipynb")
