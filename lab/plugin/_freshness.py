"""Freshness: modules sys.modules holds from an older file, stale bytecode, a stale dropin.cache."""

import hashlib
import importlib.util
import os
import sys
import types

# A file modified this close (seconds) before a scan may be edited again
# without its timestamp changing (coarse clocks, 1-2 s file systems).
RACY_SECONDS = 2.0
_RACY_NS = int(RACY_SECONDS * 1e9)

# Process-wide, shared by every registry: the file signature (mtime_ns, size)
# of each plugin module when it was last let into sys.modules, and for the
# modules that were "racy" then, a digest of their content.  A module with no
# record is trusted as imported.
module_signatures: dict[str, tuple[int, int]] = {}
racy_modules: dict[str, bytes | None] = {}


def stale_modules(current, removed):
    """Modules that sys.modules holds from an older file: changed stat, or (if racy) changed content."""
    stale = set(removed)
    for module, (path, signature) in current.items():
        recorded = module_signatures.get(module)
        if recorded is not None and recorded != signature:
            stale.add(module)
        elif module in racy_modules and racy_modules[module] != _digest(path):
            stale.add(module)
    return stale


def _digest(path):
    try:
        with open(path, "rb") as file:
            return hashlib.blake2b(file.read(), digest_size=16).digest()
    except OSError:
        return None


def with_dependents(stale, modules):
    """``stale`` plus every imported module of ``modules`` holding one of them or an object from one.

    Why: after ``from . import helper`` or ``from .helper import Thing`` a
    sibling keeps the old helper's objects, so it must be imported again too.
    """
    stale = set(stale)
    grew = True
    while grew:
        holders = {m for m in modules - stale
                   if m in sys.modules and _refers_to(sys.modules[m], stale)}
        stale |= holders
        grew = bool(holders)
    return stale


def _refers_to(module, names):
    for value in list(vars(module).values()):
        try:
            owner = (value.__name__ if isinstance(value, types.ModuleType)
                     else getattr(value, "__module__", None))
        except Exception:  # an object whose attributes raise is no reference we can follow
            continue
        if isinstance(owner, str) and owner in names:
            return True
    return False


def evict(modules, current):
    """Forget ``modules`` (and their submodules) so the next import reads their files again."""
    prefixes = tuple(m + "." for m in modules)
    for name in [n for n in sys.modules if n in modules or n.startswith(prefixes)]:
        module = sys.modules.pop(name)
        parent, _, child = name.rpartition(".")
        # `from . import helper` returns the parent's attribute if there is one.
        if getattr(sys.modules.get(parent), child, None) is module:
            delattr(sys.modules[parent], child)
    for module in modules:
        path = current.get(module, (None,))[0]
        if path:
            _remove_quietly(importlib.util.cache_from_source(path))


def forget_stale_cache(folders, current, changed):
    """Remove a folder's dropin.cache if a changed file is dated before it (copied with its old mtime)."""
    for folder in folders:
        cache = os.path.join(folder, "dropin.cache")
        try:
            cached_at = os.stat(cache).st_mtime_ns
        except OSError:
            continue
        for module in changed:
            path, signature = current.get(module, (None, None))
            if path and os.path.dirname(path) == folder and signature[0] < cached_at:
                _remove_quietly(cache)
                break


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass  # absent, or a read-only folder: nothing stale was written there by us


def record_signatures(current, scan_started_ns):
    """Remember each module's file as it is now, and the content of those that may change unseen."""
    for module, (path, signature) in current.items():
        module_signatures[module] = signature
        if signature[0] >= scan_started_ns - _RACY_NS:
            racy_modules[module] = _digest(path)
        else:
            racy_modules.pop(module, None)


def invalidate_finders(folders):
    """Make Python's import system list the folders again (a new file can share the folder's mtime)."""
    for folder in folders:
        finder = sys.path_importer_cache.get(folder)
        if finder is not None:
            finder.invalidate_caches()
