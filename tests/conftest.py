"""Shared fixtures: the one real reactor per process, and artifact folders.

The Twisted reactor cannot be restarted, so every test that needs a real
reactor shares the one ``lab.start()`` runs in crochet's thread.
"""

import os
import pathlib

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, JupyterLabServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = pathlib.Path(os.environ.get("LAB_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="session")
def lab_reactor():
    """The lab's running reactor (started once per test process)."""
    import lab

    status = lab.start()
    assert status.running
    return status.reactor


@pytest.fixture(scope="session")
def artifacts():
    """A folder for files a person may want to look at after the run (screenshots, pcaps)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_collection_modifyitems(config, items):
    """Run the browser tier last, whatever the file names.

    Playwright's sync API keeps an asyncio loop running on the main thread
    for as long as its session-wide browser lives; a test after it that
    calls ``asyncio.run`` would find that loop and fail.  Sorting is stable,
    so every other test keeps its order.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


# The browser tier: one JupyterLab and one Chromium for the whole session, shared by every
# browser test file (a second sync Playwright inside the first one's asyncio loop is refused).


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory):
    """One JupyterLab server for the session, on a copy of notebooks/."""
    server = JupyterLabServer(tmp_path_factory.mktemp("jupyterlab")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, jupyterlab):
    """A fresh 1280x800 page; afterwards its notebook's kernel is shut down."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()
    jupyterlab.shut_down_kernels()
