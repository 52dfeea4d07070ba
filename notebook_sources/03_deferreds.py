"""Write notebooks/03-deferreds.ipynb (without outputs) from the cells below.

    python notebook_sources/03_deferreds.py     # or build.py for every notebook

tests/test_nb_03_deferreds.py executes it in a real kernel.
"""

from _notebook import write

CELLS = [
    ("md", """\
# 3. Deferreds: see the path a result takes

A `Deferred` is a result that is not there yet, plus a **chain** of functions to run on it.
Each stage of the chain has two sides: a *callback* (runs when the result is a value) and an
*errback* (runs when the result is a `Failure`). The result walks down the chain and switches
sides whenever a stage raises or recovers.

`lab.trace(d)` records every stage as it runs; `lab.step(d)` pauses the chain before each stage,
so you can watch it one step at a time. Both draw themselves as a **ladder**: callbacks on the left,
errbacks on the right, the path the result took highlighted (green while it is a value, red while it
is a `Failure`), and `▶ next` where a stepped chain is waiting."""),
    ("code", """\
import lab
from IPython.display import display
from twisted.internet import task
from twisted.internet.defer import (
    CancelledError, Deferred, TimeoutError, fail, inlineCallbacks)

status = lab.start()
status"""),
    ("md", """\
## 1. Callbacks, one step at a time

Three callbacks. `lab.step(d)` makes the chain stop before each stage; the widget's buttons
(**Step**, **Run**, **Run to next Failure**, **Reset**) call `step()`, `run()`,
`run_until("failure")` and `reset()`. Pick a stage with the slider to see its input and output.

The result has arrived and the chain waits before stage #0, for you: press **Step** twice and
watch `21` become `42`, then **Run** for the rest.  (**Reset** starts over.)"""),
    ("code", """\
def parse(text):
    return int(text)

def double(number):
    return number * 2

def show(number):
    return f"the answer is {number}"

d = Deferred()
d.addCallback(parse).addCallback(double).addCallback(show)
stepper = lab.step(d)
d.callback("21")            # the result arrives; the chain waits before stage #0
stepper.widget()"""),
    ("md", """\
The buttons are methods.  The same chain again, stepped in code (a chain of its own, so the
widget above stays yours to click):"""),
    ("code", """\
d2 = Deferred()
d2.addCallback(parse).addCallback(double).addCallback(show)
stepped = lab.step(d2)
d2.callback("21")
stepped.step()              # what Step does
stepped.step()
print("paused before stage", stepped.position, "holding", repr(stepped.current))
stepped.run()               # what Run does
print("result:", stepped.result)
print(stepped.describe())"""),
    ("md", """\
The ladder is also a plain picture, which stays in the saved notebook and in exported HTML:"""),
    ("code", """\
stepped"""),
    ("md", """\
## 2. When a stage fails, callbacks are skipped

`what_if(value=...)` replays the same stages with another input. `"twenty-one"` makes `parse`
raise; from there the `Failure` passes over every callback (**skipped**), because no stage has an
errback. A chain that ends in a `Failure` is flagged as an **unhandled error**, which Twisted would
otherwise only log, later, when the Deferred is garbage collected."""),
    ("code", """\
bad = stepped.what_if(value="twenty-one")
bad.widget()"""),
    ("md", """\
Press **Run to next Failure**: the chain stops after `parse` raised.  Then **Run**: both
callbacks are skipped and the chain ends unhandled.  In code:"""),
    ("code", """\
checked = stepped.what_if(value="twenty-one")
checked.run_until("failure")
print("stopped after", checked.stages[0].name, "with", checked.stages[0].failure)
checked.run()
print("path:", checked.path)
print("unhandled:", checked.unhandled)"""),
    ("md", """\
An errback at the end handles it.  A new chain, with the errback added, so the widget above still
shows the unhandled one:"""),
    ("code", """\
d3 = Deferred()
d3.addCallback(parse).addCallback(double).addCallback(show)
d3.addErrback(lambda failure: f"handled {failure.type.__name__}")
handled = lab.step(d3)
d3.callback("twenty-one")
handled.run()
print("unhandled with an errback:", handled.unhandled, "| result:", handled.result)
handled.widget()"""),
    ("md", """\
## 3. Custom exceptions, done right: `check`, `trap`, recover, re-raise

The seed article's example, as it was written: an errback checks for `CustomException` and prints
`failure.value.message`. Python 3 exceptions have no `.message`, so **the errback itself raises**,
and its `AttributeError` replaces the original failure, which nobody handles. The trace shows it
(no `reactor.run()` needed: this Deferred fires right here)."""),
    ("code", """\
class CustomException(Exception):
    pass

def handle_custom_error(failure):              # as the article wrote it
    if failure.check(CustomException):
        print("A custom error occurred:", failure.value.message)
    else:
        print("An unknown error occurred:", failure.getTraceback())

deferred = Deferred()
deferred.addErrback(handle_custom_error)
as_written = lab.trace(deferred)
deferred.errback(CustomException("A custom error occurred"))
print("as written:", as_written.stages[0].failure, "| unhandled:", as_written.unhandled)
deferred.addErrback(lambda failure: None)      # handled now, so Twisted will not log it later"""),
    ("md", """\
Done right: `failure.trap(CustomException)` lets anything else carry on down the errback path,
`str(failure.value)` (or `failure.value.args`) reads the message, and **returning a value
recovers**: the result goes back to the callback column."""),
    ("code", """\
def handle_custom_error(failure):
    failure.trap(CustomException)
    return f"recovered from: {failure.value}"

deferred = Deferred()
deferred.addErrback(handle_custom_error).addCallback(str.upper)
done_right = lab.step(deferred)
done_right_view = done_right.widget()
display(done_right_view)
deferred.errback(CustomException("A custom error occurred"))
done_right_view.step_button.click()
print("done right:", repr(done_right.current))
done_right_view.run_button.click()
print("done right result:", done_right.result)"""),
    ("md", """\
In general an errback receives a `Failure`, **not** the exception (`isinstance(failure, InvalidKey)`
is always false). Ask the failure instead:

* `failure.check(InvalidKey)` returns the matching class (or `None`) without raising;
* `failure.trap(StoreDown)` returns quietly for a `StoreDown` and **re-raises anything else**;
* returning a value from an errback **recovers**; returning the failure, or raising, keeps it
  on the errback side."""),
    ("code", '''\
class InvalidKey(Exception):
    """The key is not acceptable to the store."""

class StoreDown(Exception):
    """The store did not answer."""

def lookup(key):
    if " " in key:
        raise InvalidKey(key)
    if key == "down":
        raise StoreDown("no answer from the store")
    return f"value-of-{key}"

def default_for_invalid(failure):
    if failure.check(InvalidKey):
        return "default-value"      # recovered: back to the callback side
    return failure                  # not ours: pass it on unchanged

def cache_when_down(failure):
    failure.trap(StoreDown)         # anything else is re-raised from here
    return "cached-value"

def fetch():
    d = Deferred()
    d.addCallback(lookup)
    d.addErrback(default_for_invalid)
    d.addErrback(cache_when_down)
    d.addCallback(str.upper)
    return d

for key in ["apple", "bad key", "down"]:
    d = fetch()
    traced = lab.trace(d)
    d.callback(key)
    print(f"{key!r:10} path={traced.path} result={traced.result!r}")'''),
    ("md", """\
Step the `"bad key"` case and watch the result cross to the errback column and back:"""),
    ("code", """\
d = fetch()
keyed = lab.step(d)
keyed_view = keyed.widget()
display(keyed_view)
d.callback("bad key")
keyed_view.failure_button.click()
print("after the Failure, waiting at the gate:", keyed.current.check(InvalidKey).__name__)
keyed_view.step_button.click()
print("recovered to:", repr(keyed.current))"""),
    ("md", """\
Re-raising: an errback that raises a *different* exception replaces the failure.
`what_if(raise_at=0, error=...)` forces stage #0 to raise, to see where a `TypeError` goes:
no errback traps it, so it ends the chain unhandled."""),
    ("code", """\
traced = lab.trace(fetch())
traced.deferred.callback("apple")
odd = traced.what_if(raise_at=0, error=TypeError("keys must be text"))
print("forced TypeError path:", odd.path, "| unhandled:", odd.unhandled)
odd.deferred.addErrback(lambda failure: None)
odd"""),
    ("md", """\
## 4. Chained Deferreds: a callback that returns a Deferred

When a stage returns another `Deferred`, the outer chain **waits** on it: nothing more can run
until it fires. The stepper says so instead of stepping, and `nested(i)` traces the inner one."""),
    ("code", """\
pending = {}

def ask_remote(key):
    answer = Deferred()
    pending[key] = answer
    return answer                   # the outer chain now waits on this one

d = Deferred()
d.addCallback(ask_remote).addCallback(len)
chained = lab.step(d)
chained_view = chained.widget()
chained_view"""),
    ("code", """\
d.callback("k")
chained_view.step_button.click()
print("stage 0 state:", chained.stages[0].state)
try:
    chained.step()
except lab.LabError as error:
    print("cannot step:", error)
pending["k"].callback("hello")
print("stage 0 output:", chained.stages[0].output, "| at the gate:", repr(chained.current))
chained_view.run_button.click()
print("chained result:", chained.result)"""),
    ("md", """\
## 5. `inlineCallbacks` and `async def`

A coroutine is a chain too: each `await` (or `yield`) is a stage. Pass the function and its
arguments, `lab.step(fn, *args)`, so every await is seen from the first one. A fake clock
(`task.Clock`) plays the network: time only moves when we call `clock.advance()`."""),
    ("code", """\
clock = task.Clock()

def slow(value, seconds=1):
    return task.deferLater(clock, seconds, lambda: value)

async def total_price():
    price = await slow(10)
    tax = await slow(price // 5)
    return price + tax

priced = lab.step(total_price)
priced_view = priced.widget()
priced_view"""),
    ("code", """\
priced_view.step_button.click()   # runs up to the first await
clock.advance(1)                  # that Deferred fires; the coroutine waits before resuming
priced_view.step_button.click()   # resumes: up to the second await
clock.advance(1)
priced_view.run_button.click()
print("async result:", priced.result)
print(priced.describe())
print("where each segment is:", ", ".join(s.location for s in priced.stages))"""),
    ("code", """\
@inlineCallbacks
def fetch_both():
    first = yield slow("a")
    try:
        yield fail(InvalidKey("b"))
    except InvalidKey:
        second = "-default"
    return first + second

both = lab.trace(fetch_both)
clock.advance(1)
print("inlineCallbacks path:", both.path, "| result:", both.result)"""),
    ("md", """\
## 6. Timeouts and cancellation

`d.addTimeout(seconds, clock)` adds two stages of its own and, when time is up, calls
`d.cancel()`: the chain fires with `CancelledError`, which the timeout's stage turns into
`TimeoutError`. Both show in the trace as what they are."""),
    ("code", """\
d = Deferred()
d.addTimeout(5, clock)
d.addErrback(lambda failure: failure.trap(TimeoutError) and "gave up after 5 s")
timed = lab.step(d)
timed_view = timed.widget()
display(timed_view)
clock.advance(5)
timed_view.run_button.click()
print("timeout:", timed.result, "| stages:", [s.how for s in timed.stages], "| notes:", timed.notes)"""),
    ("code", """\
d = Deferred()
d.addCallback(double)
d.addErrback(lambda failure: failure.trap(CancelledError) and "cancelled")
cancelled = lab.trace(d)
d.cancel()
print("cancelled:", cancelled.result, "| path:", cancelled.path)"""),
    ("md", """\
## 7. A chain that lives in the reactor

A Deferred from the network is fired by the reactor, in the reactor thread. `runner=lab.call`
makes the stepper create the chain there and run each step there; this cell only looks."""),
    ("code", """\
from twisted.internet import reactor

def later():
    d = task.deferLater(reactor, 0.05, lambda: 41)
    d.addCallback(lambda n: n + 1)
    return d

remote = lab.step(later, runner=lab.call)
remote_view = remote.widget()
display(remote_view)
first = remote.step(timeout=10)   # waits for the reactor to fire it, then runs one stage there
print("first reactor stage:", first.name, "->", first.output)
remote_view.run_button.click()
print("reactor result:", remote.result)"""),
]


if __name__ == "__main__":
    write(CELLS, "03-deferreds.ipynb")
