"""Errors of listeners, endpoints, clients and proxies (all :class:`lab.LabError`)."""

from lab.errors import LabError

__all__ = ["ListenError", "EndpointError", "RemoteNotAllowed", "ClientError",
           "ConnectionClosed", "ProxyError"]


class ListenError(LabError):
    """A listener could not start (port in use, bad plugin, wrong transport...)."""


class EndpointError(ListenError, ValueError):
    """An endpoint string could not be understood."""


class RemoteNotAllowed(ListenError):
    """A listener would accept connections from other machines without ``allow_remote=True``."""


class ClientError(LabError):
    """A client could not connect, send or read."""


class ConnectionClosed(ClientError):
    """The client's connection is closed, so nothing more can be sent or read."""


class ProxyError(LabError):
    """A proxy could not do what was asked (unknown message, bad fault, bad framer...)."""
