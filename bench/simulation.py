"""Echo round trips in the simulation against the real reactor on loopback; the cost of step().

    .venv/bin/python bench/simulation.py [--rounds R] [--trips N] [--size B]

Round trips: one client sends B bytes to the echo plugin's protocol, waits
for them to come back, and sends again, N times: in a fresh simulation (the
client and the server on two simulated hosts, run with ``run_until_idle``)
and on the real reactor (the same Echo protocol behind a bare
``reactor.listenTCP`` on 127.0.0.1, the same client protocol, in crochet's
reactor thread).  Rounds alternate which goes first, so machine noise hits
both alike; the figures are medians over the rounds, with the spread
(min-max).  Target: the simulation at least 3x faster.

Cost per step: ``sim.step()`` called one at a time through N timers, and
the per-event cost inside ``run_until_idle`` of the echo run above.
"""

import argparse
import statistics
import time

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

import lab
from lab.adapters.echo import Echo


class Pinger(Protocol):
    """Sends a payload, waits for all of it to come back, repeats ``trips`` times, then closes."""

    def __init__(self, payload, trips, done):
        self.payload, self.left, self.done = payload, trips, done
        self.pending = 0

    def connectionMade(self):
        self.send()

    def send(self):
        self.pending = len(self.payload)
        self.transport.write(self.payload)

    def dataReceived(self, data):
        self.pending -= len(data)
        if self.pending:
            return
        self.left -= 1
        if self.left:
            self.send()
        else:
            self.transport.loseConnection()
            self.done.callback(None)


def simulated(args):
    """Seconds for N round trips in a fresh simulation, and the number of events it ran."""
    started = time.perf_counter()
    sim = lab.simulation()
    sim.host("server").listenTCP(7, Factory.forProtocol(Echo))
    done = Deferred()
    sim.host("client").connectTCP("server", 7, _OneShot(Pinger(b"x" * args.size, args.trips,
                                                                done)))
    ran = sim.run_until_idle(max_steps=10 * args.trips + 100)
    assert done.called
    return time.perf_counter() - started, len(ran)


class _OneShot(Factory):
    """A client factory that hands out one prepared protocol."""

    noisy = False

    def __init__(self, protocol):
        self.prepared = protocol

    def buildProtocol(self, addr):
        self.prepared.factory = self
        return self.prepared

    def clientConnectionFailed(self, connector, reason):
        raise RuntimeError(reason)

    def clientConnectionLost(self, connector, reason):
        pass

    def startedConnecting(self, connector):
        pass


def real(args, port):
    """Seconds for N round trips over loopback on the real reactor (started in its thread)."""
    from twisted.internet import reactor

    done = Deferred()

    def start():
        reactor.connectTCP("127.0.0.1", port, _OneShot(Pinger(b"x" * args.size, args.trips,
                                                               done)))
        return done

    started = time.perf_counter()
    lab.call(start, timeout=300)
    return time.perf_counter() - started


def step_cost(timers):
    """Microseconds per sim.step() over ``timers`` timers, stepped one call at a time."""
    sim = lab.simulation()
    for n in range(timers):
        sim.callLater(n * 0.001, int)
    started = time.perf_counter()
    for _ in range(timers):
        sim.step()
    return (time.perf_counter() - started) / timers * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trips", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    from twisted.internet import reactor

    lab.start()
    port = lab.call(reactor.listenTCP, 0, Factory.forProtocol(Echo), interface="127.0.0.1")
    warm = argparse.Namespace(trips=100, size=args.size)
    simulated(warm)                      # imports and first-call costs stay out of the figures
    real(warm, port.getHost().port)
    sims, reals, ratios, events = [], [], [], 0
    for round_ in range(args.rounds):
        if round_ % 2:
            r = real(args, port.getHost().port)
            s, events = simulated(args)
        else:
            s, events = simulated(args)
            r = real(args, port.getHost().port)
        sims.append(s)
        reals.append(r)
        ratios.append(r / s)
    lab.call(port.stopListening)
    print(f"{args.trips} echo round trips of {args.size} bytes, {args.rounds} rounds "
          "(seconds, median [min-max]):")
    for name, values in (("simulation", sims), ("real reactor", reals)):
        print(f"  {name:13} {statistics.median(values):7.3f} [{min(values):.3f}-{max(values):.3f}]")
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio >= 3 else "BELOW TARGET"
    print(f"  speed-up simulation / real: median {ratio:.2f}x "
          f"[{min(ratios):.2f}-{max(ratios):.2f}] (target >= 3x) {verdict}")
    per_event = statistics.median(sims) / events * 1e6
    print(f"  the simulation ran {events} events per run: {per_event:.1f} us per event "
          "inside run_until_idle")
    costs = [step_cost(args.trips) for _ in range(args.rounds)]
    print(f"cost of one sim.step() over {args.trips} timers: "
          f"median {statistics.median(costs):.1f} us [{min(costs):.1f}-{max(costs):.1f}]")


if __name__ == "__main__":
    main()
