"""The lab's model: listeners, captured traffic, clients, load tests, reactor state.

Views (``lab.widgets``) and notebooks use these names; the reactor is
reached only through :mod:`lab.bridge`.  Importing this package imports no
``twisted.internet``: each function imports what it needs when it runs.
"""

from lab.model._capture import Capture, Connection, Event
from lab.model._client import Client, Transcript, TranscriptEntry, connect, replay
from lab.model._endpoints import ClientSpec, ServerSpec, parse_client, parse_server
from lab.model._errors import (ClientError, ConnectionClosed, EndpointError, ListenError,
                               ProxyError, RemoteNotAllowed)
from lab.model._listeners import (Listener, ListenerTable, get_listener, listen, listeners,
                                  stop_all)
from lab.model._load import LoadReport, load_test
from lab.model._privacy import (LimitReached, ListenerPrivacy, PrivacyUnavailable, TeacherLimits,
                                teacher_limits)
from lab.model._proxy import Proxy, proxies, proxy
from lab.model._proxy_hub import ProxyNote
from lab.model._proxy_replay import ReplayReport, ReplayStep
from lab.model._reactor_state import (ReactorState, SocketInfo, TimerInfo, debug_timers,
                                      reactor_state, render_html)
from lab.model._watch import Watch, watch

__all__ = [
    "listen", "listeners", "get_listener", "stop_all", "Listener", "ListenerTable",
    "Capture", "Connection", "Event",
    "connect", "replay", "Client", "Transcript", "TranscriptEntry",
    "parse_server", "parse_client", "ServerSpec", "ClientSpec",
    "ListenError", "EndpointError", "RemoteNotAllowed", "ClientError", "ConnectionClosed",
    "load_test", "LoadReport",
    "reactor_state", "debug_timers", "ReactorState", "TimerInfo", "SocketInfo", "render_html",
    "watch", "Watch",
    "proxy", "proxies", "Proxy", "ProxyError", "ProxyNote", "ReplayReport", "ReplayStep",
    "ListenerPrivacy", "LimitReached", "PrivacyUnavailable", "TeacherLimits", "teacher_limits",
]
