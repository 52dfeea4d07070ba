"""The chat plugin: a line chat room with nicknames and broadcast."""

from lab.interfaces import protocol_plugin

chat = protocol_plugin(
    "chat",
    "A line chat room: nicknames (/nick), /who, /me; each line goes to everyone else.",
    factory="lab.adapters.chat:ChatFactory",
    decoder="lab.protocols.chat:ChatDecoder",
    default_endpoint="tcp:0",
    options={"max_line": "longest line accepted, in bytes (512); longer ones hang up",
             "max_members": "most members in the room at once (1000)"},
)
