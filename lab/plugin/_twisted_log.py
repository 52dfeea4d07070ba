"""Twisted's log, captured during a scan and turned into per-module errors and registry notes."""

import os
import threading
import traceback
from contextlib import contextmanager

from twisted.logger import formatEvent, globalLogPublisher

from lab.errors import PluginError
from lab.plugin._records import summary, trimmed_traceback


@contextmanager
def captured_twisted_log():
    """Collect the Twisted log events this thread emits inside the block (other threads' are left alone)."""
    events = []
    me = threading.get_ident()

    def observer(event):
        if threading.get_ident() == me:
            events.append(event)

    globalLogPublisher.addObserver(observer)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observer)


def read_log(events, current, folders, origin):
    """Split captured log events into module import failures and other notes."""
    files = {os.path.realpath(path): module for module, (path, _) in current.items()}
    broken, notes = {}, []
    for event in events:
        failure = event.get("log_failure") or event.get("failure")
        if failure is not None:
            module = _module_of(failure.value, files)
            if module is not None and module not in broken:
                broken[module] = failure.value
                continue
            notes.append(PluginError(
                f"Twisted logged an error while scanning {origin}: {summary(failure.value)}",
                traceback=trimmed_traceback(failure.value, folders)))
        elif event.get("errno") is not None and "path" in event:
            notes.append(PluginError(
                f"Twisted cannot save dropin.cache in {os.path.dirname(event['path'])} "
                f"(errno {event['errno']}: {os.strerror(event['errno'])}). Discovery still "
                "works: the registry scans that folder again only when one of its files "
                "changes. Make the folder writable to let Twisted cache it."))
        elif event.get("isError"):
            notes.append(PluginError(f"Twisted logged while scanning {origin}: "
                                     f"{formatEvent(event)}"))
    return broken, notes


def _module_of(error, files):
    """The plugin module that failed: the outermost frame in a plugin file, else a SyntaxError's file."""
    for frame in traceback.extract_tb(error.__traceback__):
        module = files.get(os.path.realpath(frame.filename))
        if module is not None:
            return module
    if isinstance(error, SyntaxError) and error.filename:
        return files.get(os.path.realpath(error.filename))
    return None
