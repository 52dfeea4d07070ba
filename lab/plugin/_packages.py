"""Plugin packages: ``lab.dropins`` (the shipped one), and one module object made for each user folder."""

import hashlib
import importlib.machinery
import os
import re
import sys
import threading
import types

from twisted.plugin import pluginPackagePaths

import lab.dropins

# The plugin package the lab ships; other distributions' lab/dropins/ folders join its path.
SHIPPED = lab.dropins
# sys.modules and the freshness records are process-wide: one scan at a time.
SCAN_LOCK = threading.RLock()


def folder_package(folder):
    """The plugin package whose ``__path__`` is ``folder`` (made once per folder and process)."""
    slug = re.sub(r"\W+", "_", os.path.basename(folder)).strip("_").lower() or "folder"
    slug = f"f_{slug}" if slug[0].isdigit() else slug  # module names may not start with a digit
    digest = hashlib.sha1(folder.encode()).hexdigest()[:8]
    name = f"{SHIPPED.__name__}.{slug}_{digest}"
    with SCAN_LOCK:
        return sys.modules.get(name) or _new_folder_package(name, folder)


def _new_folder_package(name, folder):
    package = types.ModuleType(name, f"Lab plugins in the folder {folder}.")
    package.__path__ = [folder]
    package.__package__ = name
    package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    package.__spec__.submodule_search_locations = package.__path__
    # twisted.python.modules treats a module as a package only if its
    # __file__ is an existing __init__ file; the folders come from __path__.
    package.__file__ = SHIPPED.__file__
    sys.modules[name] = package
    # Twisted's namedAny walks attributes: lab.dropins.<name>.<module>.
    setattr(SHIPPED, name.rpartition(".")[2], package)
    return package


class Source:
    """One plugin package and what its last scan found."""

    def __init__(self, package, origin):
        self.package = package
        self.origin = origin
        self.scanned = False
        self.signatures = {}    # module name -> (path, (mtime_ns, size))
        self.entries = []
        self.notes = []         # PluginErrors not tied to one plugin

    def folders(self):
        """The existing folders of the package, as real paths, in search order."""
        if self.package is SHIPPED:
            _extend_shipped_path()
        seen = []
        for folder in self.package.__path__:
            real = os.path.realpath(folder)
            if real not in seen and os.path.isdir(real):
                seen.append(real)
        return seen

    def current_signatures(self, folders):
        """Module name -> (file, (mtime_ns, size)) for every plugin module in ``folders``."""
        found = {}
        for folder in folders:
            for name, path in _module_files(folder):
                module = f"{self.package.__name__}.{name}"
                if module not in found:
                    stat = os.stat(path)
                    found[module] = (path, (stat.st_mtime_ns, stat.st_size))
        return found


def _module_files(folder):
    """(module name, file) of each module Twisted would find in ``folder``: ``*.py`` and packages."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found = []
    for entry in sorted(entries, key=lambda e: e.name):
        stem, ext = os.path.splitext(entry.name)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.append((stem, entry.path))
        elif not ext and entry.name.isidentifier() and entry.is_dir():
            init = os.path.join(entry.path, "__init__.py")
            if os.path.exists(init):
                found.append((entry.name, init))
    return found


def _extend_shipped_path():
    """Add to ``lab.dropins.__path__`` the plugin folders that appeared on sys.path since import."""
    for folder in pluginPackagePaths(SHIPPED.__name__):
        if folder not in SHIPPED.__path__ and os.path.isdir(folder):
            SHIPPED.__path__.append(folder)
