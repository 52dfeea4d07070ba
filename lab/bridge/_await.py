"""``await lab.wait(d)``: wait for reactor work from a cell without blocking the kernel's loop."""

import asyncio
from collections.abc import Awaitable
from typing import Any

from lab._checks import checked_timeout
from lab.bridge._handle import DEFAULT_TIMEOUT, Handle, is_deferred
from lab.bridge._lifecycle import submit


class _Awaitable:
    """``await``-able on the caller's asyncio loop, finished from the reactor thread."""

    def __init__(self, target, timeout):
        self._target, self._timeout = target, timeout

    def __await__(self):
        return self._wait().__await__()

    async def _wait(self):
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def finish(handle):
            loop.call_soon_threadsafe(_settle, future)

        handle = self._target
        if not isinstance(handle, Handle):
            handle = submit(lambda d=handle: d)
        handle.add_done_callback(finish)
        try:
            await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except asyncio.TimeoutError:
            error = handle._timed_out(f"within {self._timeout:g} s of lab.wait()")
            if error is not None:
                raise error from None
        return handle.outcome()


def _settle(future):
    if not future.done():
        future.set_result(None)


def wait(target: Any, timeout: float = DEFAULT_TIMEOUT) -> Awaitable[Any]:
    """``await lab.wait(d)``: wait for a Deferred or :class:`Handle` without blocking.

    Works with IPython's autoawait in a notebook cell: the kernel's loop keeps
    serving widgets while the cell waits.
    """
    if not (isinstance(target, Handle) or is_deferred(target)):
        raise TypeError(
            f"lab.wait() takes a Deferred or a lab.Handle, not {type(target).__name__}; "
            "for a function, use lab.submit(fn) and wait for its handle."
        )
    return _Awaitable(target, checked_timeout(timeout))
