"""Lower layers get their views through lab.display, which the widgets layer fills."""

import subprocess
import sys

import pytest

from lab import display


def test_a_registered_view_is_made_for_its_kind(monkeypatch):
    """view(kind, obj) calls the factory registered for kind; the last registration wins."""
    monkeypatch.setattr(display, "_factories", dict(display._factories))
    display.register_view("test kind", lambda obj: ("first", obj))
    display.register_view("test kind", lambda obj: ("second", obj))
    assert ("second", 7) == display.view("test kind", 7)


def test_a_kind_without_a_view_says_what_to_do(monkeypatch):
    """An unknown kind raises NoView (a LabError) naming lab.widgets."""
    with pytest.raises(display.NoView, match="import lab.widgets"):
        display.view("kind nobody registers", object())


def test_import_lab_alone_gets_the_plugin_browser_on_first_display():
    """After only `import lab`, the registry's browser is built by the widgets layer, imported then."""
    code = ("import sys, lab; assert 'lab.widgets' not in sys.modules; "
            "b = lab.plugins().browser(); print(type(b).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "lab.widgets.plugin_browser" == out.strip()
