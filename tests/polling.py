"""Waiting for something the reactor thread does, without a fixed sleep."""

import time


def eventually(condition, limit=5.0):
    """Poll ``condition`` for up to ``limit`` seconds; return whether it held."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
