"""What travels: a :class:`Message` (one arrow of the sequence diagram, TCP or UDP) and a
TCP connection's :class:`Flow` (one direction of it, its order, holds and bytes in flight).

A segment never arrives before the one written before it on the same flow:
:meth:`Flow.send` takes the later of the link's arrival time and the last one.
"""

from lab.simulator._queue import Event


class Message:
    """One arrow of the sequence diagram: who sent what when, and when (or whether) it arrived."""

    __slots__ = ("sent_at", "arrived_at", "src", "dst", "kind", "label", "connection", "status",
                 "decoded", "due", "sent_row", "arrived_row")

    def __init__(self, sent_at, src, dst, kind, label, connection, row):
        self.sent_at, self.src, self.dst, self.kind = sent_at, src, dst, kind
        self.label, self.connection, self.sent_row = label, connection, row
        self.arrived_at, self.status, self.decoded, self.due = None, "in flight", [], None
        self.arrived_row = None

    def arrived(self, time, row, status):
        """Note the arrival (or loss) at ``time``, in the step numbered ``row``."""
        self.arrived_at, self.arrived_row, self.status = time, row, status

    def __repr__(self):
        return (f"<Message {self.kind} {self.src}->{self.dst} {self.label!r} "
                f"{self.sent_at:.6f}->{self.arrived_at} {self.status}>")


class Flow:
    """One direction of a connection: its order, its holds, its bytes in flight."""

    def __init__(self, conn, sender, receiver, name):
        self.conn, self.sender, self.receiver, self.name = conn, sender, receiver, name
        self.held = False
        self.stalled = []
        self.last_arrival = 0.0
        self.in_flight = 0

    def blocked(self):
        """Why this flow's next segment cannot arrive now ('' if it can)."""
        if self.held:
            return "held"
        sim = self.conn.sim
        if sim._cuts and sim._cut(self.sender.host.name, self.receiver.host.name):
            return "partitioned"
        if self.receiver.reading_paused:
            return "paused by the receiver"
        return ""

    def send(self, kind, data, run, label):
        """Queue one segment (``data`` bytes, or None for a control segment) for arrival."""
        sim = self.conn.sim
        src, dst = self.sender.host.name, self.receiver.host.name
        link = sim._settings(src, dst) if sim._links else sim._defaults
        now = sim._now
        if link.bandwidth:  # the link sends one segment after another
            start = max(now, sim._link_free.get((src, dst), 0.0))
            busy = (len(data) if data else 0) / link.bandwidth
            sim._link_free[(src, dst)] = start + busy
            arrival = start + busy + link.latency
        else:
            arrival = now + link.latency
        if link.jitter:
            arrival += sim._rng.random() * link.jitter
        if arrival < self.last_arrival:
            arrival = self.last_arrival
        self.last_arrival = arrival
        message = Message(now, src, dst, kind, label, self.conn.id, sim._row())
        message.due = arrival
        sim.messages.append(message)
        if data:
            self.in_flight += len(data)
        event = Event(arrival if arrival > now else now, kind, dst, f"{self.name} {label}", run)
        event.created = event.sent_at = now
        event.connection, event.direction, event.data = self.conn.id, self.name, data
        event.flow, event.message = self, message
        return sim._push(event)
