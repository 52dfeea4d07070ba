"""End to end: each notebook opened in real JupyterLab, in headless Chromium, run and clicked through.

A screenshot of every notebook is kept in ``test-artifacts/``; a failing step
names itself and leaves a screenshot of the moment it failed.
"""

import contextlib

import pytest
from playwright.sync_api import expect

from tests.browser_support import (
    CHROMIUM, CHROMIUM_ARGS, VIEWPORT, JupyterLabServer, open_and_run_notebook,
)

pytestmark = pytest.mark.browser


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
def page(chromium):
    """A fresh 1280x800 page."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()


class Steps:
    """Names each step of a browser test; on failure, screenshots it and says which step."""

    def __init__(self, page, artifacts, name):
        self.page, self.artifacts, self.name = page, artifacts, name

    @contextlib.contextmanager
    def step(self, description):
        """Run one named step."""
        try:
            yield
        except Exception as error:
            shot = self.artifacts / f"browser-{self.name}-FAILED.png"
            with contextlib.suppress(Exception):
                self.page.screenshot(path=str(shot), full_page=True)
            raise AssertionError(f"{self.name}: step '{description}' failed "
                                 f"(screenshot {shot}): {error}") from error

    def screenshot(self):
        """Keep a screenshot of the page as it is now."""
        self.page.screenshot(path=str(self.artifacts / f"browser-{self.name}.png"))


def run_notebook(page, jupyterlab, artifacts, name):
    """Open and run one notebook; assert it shows no error output; return the step helper."""
    steps = Steps(page, artifacts, name.removesuffix(".ipynb"))
    with steps.step("open the notebook and run all cells"):
        found = open_and_run_notebook(page, jupyterlab, name)
    with steps.step("check that no cell shows an error"):
        assert [] == found
    return steps


def test_lab_page_answers(jupyterlab):
    """The JupyterLab server answers 200 on /lab."""
    assert 200 == jupyterlab.status_of("/lab")


def test_tour_runs_and_its_widgets_answer_clicks(page, jupyterlab, artifacts):
    """00-tour: every cell runs; Ping, the dashboard's Start, client console and Step all answer."""
    steps = run_notebook(page, jupyterlab, artifacts, "00-tour.ipynb")
    dash = page.locator(".lab-dashboard")
    with steps.step("the dashboard's plugin browser lists the shipped plugins"):
        dash.scroll_into_view_if_needed()
        for name in ("echo", "chat", "memcached"):
            assert dash.get_by_text(name, exact=True).count() > 0
    with steps.step("Start in the listeners panel shows a port"):
        dash.get_by_role("button", name="Start").click()
        dash.get_by_text("listening: echo on tcp:").wait_for(timeout=10_000)
    with steps.step("the client console gets its echo"):
        dash.locator(".lm-TabBar-tab", has_text="Client").click()
        box = dash.get_by_placeholder("type here, then Send")
        box.fill("hello from chromium")
        box.press("Enter")
        dash.get_by_role("button", name="Send").click()
        dash.locator(".lab-transcript").get_by_text("hello from chromium").nth(1).wait_for(
            timeout=10_000)
    steps.screenshot()
    with steps.step("Step advances the chain's ladder"):
        dash.locator(".lm-TabBar-tab", has_text="Chains").click()
        ladder = dash.locator(".lab-ladder").first
        before = ladder.inner_text()
        dash.get_by_role("button", name="Step").click()
        # The HTML widget re-renders its node, so poll the locator, not an element.
        expect(ladder).not_to_have_text(before, timeout=10_000)
    with steps.step("click Ping reactor and see pong"):
        button = page.get_by_role("button", name="Ping reactor").last
        button.scroll_into_view_if_needed()
        button.click()
        page.get_by_text("pong in").last.wait_for(timeout=10_000)
