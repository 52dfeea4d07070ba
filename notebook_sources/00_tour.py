"""Write notebooks/00-tour.ipynb (without outputs) from the cells below.

    python notebook_sources/00_tour.py     # or build.py for every notebook
"""
from _notebook import code, md, write

CELLS = [
 md("# Protocol Lab: a tour\n\n"
    "Twisted's reactor runs in a background thread, so this notebook stays free while servers listen, "
    "clients talk and Deferreds fire. In five cells: the reactor, the plugins, a listener with live traffic, "
    "a stepped Deferred chain, and the reactor's insides; then everything side by side."),
 code("import lab\n\nstatus = lab.start()    # once per process; re-running is harmless\nstatus"),
 md("`lab.call` runs a function in the reactor thread and returns its result (waiting for a Deferred); "
    "`await lab.wait(...)` waits without blocking the kernel."),
 code("from twisted.internet import reactor, task\n\n"
      "print('the reactor answered', lab.call(task.deferLater, reactor, 0.1, lambda: 6 * 7))\n"
      "print('awaited:', await lab.wait(lab.submit(task.deferLater, reactor, 0.1, lambda: 'ready')))"),
 md("## Plugins\n\nProtocol plugins are found through Twisted's plugin system; the browser shows what each provides and needs."),
 code("registry = lab.plugins()\nprint('plugins:', ', '.join(registry.names()))\nregistry"),
 md("## A listener, a client, the traffic\n\n`lab.listen` serves a plugin on 127.0.0.1 and records every byte both ways."),
 code("echo = lab.listen('echo', name='echo')\nclient = lab.connect(echo)\nclient.send('hello, lab\\r\\n')\n"
      "print('echoed:', client.read_until(b'\\r\\n', timeout=5))\n\n"
      "from lab.widgets import ConversationView\nConversationView(echo)"),
 md("## A Deferred chain, one stage at a time\n\nPress **Step** to run the next callback or errback; the ladder shows the path taken."),
 code("from twisted.internet import defer\n\n\ndef halve(n):\n    if n % 2:\n        raise ValueError(f'{n} is odd')\n    return n // 2\n\n\n"
      "d = defer.Deferred()\nd.addCallback(halve)\nd.addCallback(halve)\nd.addErrback(lambda failure: f'recovered from {failure.value}')\n"
      "stepper = lab.step(d)\nd.callback(6)\nprint(stepper.status, '(press Step below)')\nstepper.widget()"),
 md("## The reactor's insides\n\nTimers waiting to fire, sockets it reads and writes, listening ports."),
 code("call = lab.call(reactor.callLater, 30, print, 'a timer for the reactor view')\n"
      "state = lab.reactor_state()\nprint(state.text().splitlines()[0])\nprint('listening:', [s.description for s in state.listening])"),
 md("## Everything side by side\n\nThe dashboard puts the listeners, plugins, traffic, a client console, the reactor view and chains together. "
    "Pick a listener on the left; its conversation and a client are on the right."),
 code("dash = lab.dashboard(echo, chains=[stepper])\ndash"),
 md("Ping measures one round trip kernel → reactor thread → kernel:"),
 code("from lab.widgets import StatusPanel\n\npanel = StatusPanel()\npanel.ping()\ndisplay(panel)\nprint(panel.result.value)"),
 md("When you are done: `lab.call(call.cancel)` and `echo.stop()` (a kernel shutdown stops every listener too). "
    "The notebooks 01 to 06 go deeper, one subject each."),
]

if __name__ == "__main__":
    write(CELLS, "00-tour.ipynb")
