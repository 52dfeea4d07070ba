"""The shout checks, run in a simulation: the same questions, answered without sockets or timing.

Each check connects a fresh client (host ``checker``) to the server, sends
its chunks as separate writes (so "split across segments" really is split,
every time), lets two seconds of virtual time pass, and judges what came
back.  With ``lab.simulation(fragment=1)`` each byte arrives on its own,
which a server parsing in ``dataReceived`` never survives.
"""

from lab.simulator import Listener, Simulation, simulation

__all__ = ["check_in_simulation"]

WAIT = 2.0  # virtual seconds a check waits for replies


def _serve(target, sim):
    if isinstance(target, Listener):
        return target.sim, target
    if sim is True:
        sim = simulation()
    if not isinstance(sim, Simulation):
        raise TypeError(f"simulation= takes a lab.simulation(...) or True, not "
                        f"{type(sim).__name__}.")
    if isinstance(target, tuple):
        raise TypeError("in a simulation, check_shout() takes the plugin name (or factory) to "
                        "serve, not an address: check_shout('shout', simulation=sim).")
    return sim, sim.listen(target, host="server")


def _one(sim, listener, check, result_type, frames_of):
    name, chunks, expected, hint = check
    client = sim.connect(listener, host="checker")
    for chunk in chunks:
        client.send(chunk)
    sim.advance(WAIT)
    if expected is None:
        closed = client.closed_reason is not None
        client.close()
        sim.advance(WAIT)
        if closed:
            return result_type(name, True, "the server closed the connection")
        return result_type(name, False, f"connection still open {WAIT} s (virtual) later", hint)
    frames, error = frames_of(client.received)
    client.close()
    sim.advance(WAIT)
    if error:
        return result_type(name, False, f"ValueError: {error}", hint)
    got = frames[:len(expected)]
    if got != expected:
        why = f"expected {expected!r}, got {got!r}"
        if len(got) < len(expected) and client.closed_reason is not None:
            why += f" (connection closed: {client.closed_reason})"
        return result_type(name, False, why, hint)
    return result_type(name, True, f"got {got!r}")


def check_in_simulation(target, sim, report_type, result_type, checks, frames_of):
    """Serve ``target`` in ``sim`` (or use a simulated listener) and run every check there."""
    sim, listener = _serve(target, sim)
    fragment = sim.network().fragment
    pieces = f", writes in {fragment}-byte pieces" if fragment else ""
    report = report_type(f"{listener.name} on {listener.host}:{listener.port} in a simulation "
                         f"(seed {sim.seed!r}{pieces})")
    for check in checks:
        report.results.append(_one(sim, listener, check, result_type, frames_of))
    return report
