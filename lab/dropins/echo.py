"""The echo plugin: writes every byte back, over TCP and UDP."""

from lab.interfaces import protocol_plugin

echo = protocol_plugin(
    "echo",
    "Writes every byte (TCP) or datagram (UDP) back to its sender.",
    factory="lab.adapters.echo:EchoFactory",
    datagram="lab.adapters.echo:EchoDatagram",
    default_endpoint="tcp:0",
)
