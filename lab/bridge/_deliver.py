"""reactor -> kernel: the one door through which reactor-thread events reach views."""

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

# Serialises view updates; the error capture also guards its records with it.
delivery_lock = threading.RLock()
delivery_errors: list = []  # bounded record of view callbacks that raised; see deliver()
_MAX_DELIVERY_ERRORS = 50


def deliver(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Hand one event from the reactor thread to the kernel side: ``fn(*args)``.

    Every model-to-view notification goes through here.  Under ipykernel 7 a
    background thread's ``print`` lands in whichever cell runs *now*, but
    widget trait assignment (and ``Output.append_stdout``) is sent over the
    comm, which is thread-safe and lands in the right widget; so views update
    by traits, called here directly and serialised by one lock.  A view that
    raises must not kill the reactor: the error is kept in
    ``delivery_errors`` (bounded) and written to the real stderr.
    """
    with delivery_lock:
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a broken view must not stop the reactor
            text = traceback.format_exc()
            if len(delivery_errors) >= _MAX_DELIVERY_ERRORS:
                delivery_errors.pop(0)
            delivery_errors.append(text)
            if sys.__stderr__ is not None:
                sys.__stderr__.write("lab: a view update failed:\n" + text)
            return None
