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
def page(chromium, jupyterlab):
    """A fresh 1280x800 page; afterwards its notebook's kernel is shut down."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()
    jupyterlab.shut_down_kernels()


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


def cell(page, marker):
    """The notebook cell (input and outputs) whose source contains ``marker``."""
    found = page.locator(".jp-CodeCell", has_text=marker).first
    found.scroll_into_view_if_needed()
    return found


def step_advances_ladder(page, where):
    """Click Step in ``where`` and wait for its ladder diagram to change."""
    ladder = where.locator(".lab-ladder").first
    before = ladder.inner_text()
    where.get_by_role("button", name="Step").first.click()
    # The HTML widget re-renders its node, so poll the locator, not an element.
    expect(ladder).not_to_have_text(before, timeout=10_000)


def test_reactor_notebook_and_its_reactor_view(page, jupyterlab, artifacts):
    """01-reactor: every cell runs; Refresh in the reactor view shows a snapshot of the reactor."""
    steps = run_notebook(page, jupyterlab, artifacts, "01-reactor.ipynb")
    with steps.step("Refresh the reactor view"):
        view = cell(page, "ReactorView(auto=True")
        view.get_by_role("button", name="Refresh").click()
        expect(view.get_by_text("delayed calls").first).to_be_visible(timeout=10_000)
    steps.screenshot()


def test_protocols_notebook_listeners_panel_and_console(page, jupyterlab, artifacts):
    """02-protocols: Start shows a port, and the client console gets its echo."""
    steps = run_notebook(page, jupyterlab, artifacts, "02-protocols.ipynb")
    where = cell(page, "ListenersPanel()")
    with steps.step("the client console gets its echo"):
        where.get_by_role("button", name="text", exact=True).click()
        box = where.get_by_placeholder("type here, then Send")
        box.fill("echo me, chromium")
        box.press("Enter")
        where.get_by_role("button", name="Send").click()
        expect(where.locator(".lab-transcript").get_by_text("echo me, chromium")).to_have_count(
            2, timeout=10_000)
    with steps.step("then Start in the listeners panel shows a port"):
        where.get_by_role("button", name="Start").click()
        expect(where.get_by_text("listening: ").first).to_be_visible(timeout=10_000)
    steps.screenshot()


def test_deferreds_notebook_step_advances_the_ladder(page, jupyterlab, artifacts):
    """03-deferreds: the first stepper's Step button advances its ladder."""
    steps = run_notebook(page, jupyterlab, artifacts, "03-deferreds.ipynb")
    with steps.step("Reset, then Step advances the ladder"):
        where = cell(page, "stepper = lab.step(d)")
        where.get_by_role("button", name="Reset").click()
        expect(where.get_by_text("paused before stage #0").first).to_be_visible(timeout=10_000)
        step_advances_ladder(page, where)
        expect(where.get_by_text("paused before stage #1").first).to_be_visible(timeout=10_000)
    steps.screenshot()


def test_plugins_notebook_browser_lists_plugins_and_rescans(page, jupyterlab, artifacts):
    """04-plugins: the plugin browser lists the plugins, and Rescan answers."""
    steps = run_notebook(page, jupyterlab, artifacts, "04-plugins.ipynb")
    where = cell(page, "browser = registry.browser()")
    with steps.step("the plugin browser lists plugins"):
        for name in ("echo", "memcached", "fancy"):
            expect(where.get_by_text(name, exact=True).first).to_be_attached(timeout=10_000)
    with steps.step("Rescan answers"):
        where.get_by_role("button", name="Rescan").click()
        expect(where.get_by_text("rescan").first).to_be_visible(timeout=10_000)
    steps.screenshot()


def test_memcached_notebook_protocol_stepper_and_decoded_traffic(page, jupyterlab, artifacts):
    """05-memcached: the decoded conversation shows commands; the protocol stepper steps."""
    steps = run_notebook(page, jupyterlab, artifacts, "05-memcached.ipynb", )
    with steps.step("the conversation view decodes memcached commands"):
        where = cell(page, 'mode="decoded"')
        expect(where.get_by_text("STORED").first).to_be_attached(timeout=10_000)
    with steps.step("Reset and Step in the protocol stepper"):
        where = cell(page, "ProtocolStepper()")
        where.get_by_role("button", name="Reset").click()
        where.get_by_role("button", name="Step").click()
        expect(where.get_by_text("set", exact=False).first).to_be_visible(timeout=10_000)
    steps.screenshot()


def test_custom_protocol_exercise_checks_and_steps(page, jupyterlab, artifacts):
    """06-custom-protocol: the fixed server passes all checks, and Step advances a request's chain."""
    steps = run_notebook(page, jupyterlab, artifacts, "06-custom-protocol.ipynb")
    with steps.step("the checker reports 8/8 for the fixed server"):
        expect(cell(page, "second = check_shout(server)").get_by_text("8/8 passed").first
               ).to_be_visible(timeout=10_000)
    with steps.step("Reset and Step the request's chain"):
        where = cell(page, "good = lab.step(ask")
        where.get_by_role("button", name="Reset").click()
        step_advances_ladder(page, where)
    steps.screenshot()


def test_debugging_notebook_wait_graph_node_click_shows_why(page, jupyterlab, artifacts):
    """07-debugging: clicking a node of the wait graph shows its details, down to why it waits."""
    steps = run_notebook(page, jupyterlab, artifacts, "07-debugging.ipynb")
    where = cell(page, "view = graph.widget()")
    with steps.step("the wait graph picture is drawn"):
        expect(where.locator("svg.lab-wait-graph")).to_be_visible(timeout=10_000)
    with steps.step("clicking the orphan node shows its details"):
        picker = where.locator("select").first
        labels = picker.locator("option").all_inner_texts()
        picker.select_option(index=next(i for i, t in enumerate(labels) if "ORPHAN" in t))
        expect(where.locator(".lab-pending-detail").get_by_text(
            "nothing in the process can fire it").first).to_be_visible(timeout=10_000)
    with steps.step("Refresh takes a new snapshot"):
        where.get_by_role("button", name="Refresh").click()
        expect(where.get_by_text("pending Deferred").first).to_be_visible(timeout=10_000)
    steps.screenshot()
