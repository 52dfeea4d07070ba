"""Twisted's classic little services (twisted.protocols.wire) as lab plugins."""

from lab.interfaces import protocol_plugin

discard = protocol_plugin(
    "discard", "RFC 863: reads everything and answers nothing.",
    factory="lab.adapters.classic:discard_factory")

daytime = protocol_plugin(
    "daytime", "RFC 867: sends the date and time as a line of text, then closes.",
    factory="lab.adapters.classic:daytime_factory")

qotd = protocol_plugin(
    "qotd", "RFC 865: sends a quote of the day, then closes.",
    factory="lab.adapters.classic:qotd_factory",
    options={"quote": "the quote to send"})

time = protocol_plugin(
    "time", "RFC 868: sends the seconds since 1900 as 4 big-endian bytes, then closes.",
    factory="lab.adapters.classic:time_factory")
