"""End to end: each notebook opened in real JupyterLab, in headless Chromium, run and clicked through.

A screenshot of every notebook is kept in ``test-artifacts/``; a failing step
names itself and leaves a screenshot of the moment it failed.
"""

import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import VIEWPORT, open_and_run_notebook

pytestmark = pytest.mark.browser


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
        expect(dash.get_by_text(re.compile(r"listening: echo(-\d+)? on tcp:")).first
               ).to_be_visible(timeout=10_000)
    with steps.step("the client console gets its echo"):
        dash.locator(".lm-TabBar-tab", has_text="Client").click()
        box = dash.get_by_placeholder("type here, then Enter or Send")
        box.fill("hello from chromium")
        box.press("Enter")  # Enter sends
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
        box = where.get_by_placeholder("type here, then Enter or Send")
        box.fill("echo me, chromium")
        box.press("Enter")  # Enter sends: once, so the line shows sent and echoed
        expect(where.locator(".lab-transcript").get_by_text("echo me, chromium")).to_have_count(
            2, timeout=10_000)
    with steps.step("an empty Send is refused, not sent"):
        where.get_by_role("button", name="Send").click()
        expect(where.get_by_text("nothing to send").first).to_be_visible(timeout=10_000)
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


# A notebook the live-view test writes into the server's folder: a listener, its
# conversation view, a client console, and traffic every 0.3 s from a thread of
# the kernel (bounded: 200 lines, then it stops).
LIVE_CELLS = [
    """import threading, time
import lab
from lab.widgets import ClientConsole, ConversationView
lab.start()
listener = lab.listen("echo", name="live")
client = lab.connect(listener)
view = ConversationView(listener)
console = ClientConsole(listener)
stop = threading.Event()""",
    "view",
    "console",
    """def traffic():
    for n in range(200):
        if stop.wait(0.3):
            return
        client.send(b"line %d\\r\\n" % n)
        console.send(f"console {n}")
threading.Thread(target=traffic, daemon=True).start()""",
]

JS_SCROLL = """([selector, index]) => {
  const box = document.querySelectorAll(selector)[index];
  return {top: box.scrollTop, height: box.scrollHeight, client: box.clientHeight,
          first: (box.querySelector('tr:nth-child(2)') || box.querySelector('div div') || {}).textContent,
          last: box.lastElementChild && box.lastElementChild.textContent.slice(-60),
          rows: box.querySelectorAll('tr, .lab-transcript > div').length};
}"""


def _at_bottom(state):
    return state["height"] - state["top"] - state["client"] < 8


def _write_live_notebook(jupyterlab):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell(c) for c in LIVE_CELLS],
                            metadata={"kernelspec": {"name": "python3", "language": "python",
                                                     "display_name": "Python 3"}})
    nbformat.write(notebook, jupyterlab.root / "live-follow.ipynb")


@pytest.mark.parametrize("selector", [".lab-conversation-view .lab-live-log",
                                      ".lab-transcript"])
def test_live_views_follow_new_rows_until_the_reader_scrolls_up(page, jupyterlab, artifacts,
                                                                selector):
    """While lines arrive every 0.3 s the view stays at its newest row; scrolled up it holds still; back at the bottom it follows again."""
    _write_live_notebook(jupyterlab)
    steps = run_notebook(page, jupyterlab, artifacts, "live-follow.ipynb")
    steps.name = "live-follow-" + ("conversation" if "conversation" in selector else "console")
    box = ".lab-live-log" if selector == ".lab-transcript" else selector
    index = 1 if selector == ".lab-transcript" else 0  # the console's log comes second
    state = lambda: page.evaluate(JS_SCROLL, [box, index])  # noqa: E731
    with steps.step("rows overflow the box while traffic flows"):
        page.locator(box).nth(index).scroll_into_view_if_needed()
        page.wait_for_function(
            "([s, i]) => { const b = document.querySelectorAll(s)[i];"
            " return b && b.scrollHeight > b.clientHeight + 100; }",
            arg=[box, index], timeout=60_000, polling=300)
    with steps.step("each refresh leaves the newest row in view"):
        seen = []
        for _ in range(6):
            page.wait_for_timeout(400)
            seen.append(state())
        assert all(_at_bottom(s) for s in seen), seen
        assert seen[0]["last"] != seen[-1]["last"], "no new rows arrived"
    with steps.step("scrolled up, the view holds still while lines keep arriving"):
        page.evaluate("([s, i]) => { document.querySelectorAll(s)[i].scrollTop = 0; }",
                      [box, index])
        page.wait_for_timeout(300)
        held = state()
        page.wait_for_timeout(1500)
        later = state()
        assert 0 == later["top"] and held["first"] == later["first"], (held, later)
    steps.screenshot()
    with steps.step("back at the bottom, it follows the newest rows again"):
        page.evaluate("([s, i]) => { const b = document.querySelectorAll(s)[i];"
                      " b.scrollTop = b.scrollHeight; }", [box, index])
        page.wait_for_timeout(300)
        back = state()
        page.wait_for_timeout(1500)
        final = state()
        assert _at_bottom(final) and final["last"] != back["last"], (back, final)


# The views a learner meets, in one notebook, for the layout check at three window sizes.
LAYOUT_CELLS = [
    """import lab
from twisted.internet import defer
from lab.widgets import ConversationView, ListenersPanel, ClientConsole
lab.start()
server = lab.listen("chat", name="layout-chat")
talker = lab.connect(server)
talker.send(b"/nick ada\\r\\nhello, a line long enough to need some room in the table\\r\\n")
talker.read_until(b"you are now ada", timeout=5)""",
    "dash = lab.dashboard(server)\ndash",
    "ListenersPanel()",
    "ConversationView(server, mode='decoded')",
    "ClientConsole(server)",
    """def parse_a_rather_long_request_line(text):
    return int(text)

def and_a_long_named_errback_that_recovers(failure):
    return -1

d = defer.Deferred()
d.addCallback(parse_a_rather_long_request_line)
d.addErrback(and_a_long_named_errback_that_recovers)
stepper = lab.step(d)
d.callback("twenty-one, which is not a number a parser can read")
stepper.run()
stepper.widget()""",
    "lab.plugins().browser()",
]

# Elements of widget outputs whose content is cut: wider than the output area, or
# hiding overflow they have.  Each finding names the widget classes around it.
JS_CLIPPED = """() => {
  const found = [];
  const name = (el) => (el.className && el.className.baseVal === undefined ? el.className : '')
      .toString().split(' ').filter(c => c.startsWith('lab-') || c.startsWith('widget-'))
      .join('.') || el.tagName;
  document.querySelectorAll('.jp-OutputArea-output').forEach((area, n) => {
    const edge = area.getBoundingClientRect().right + 1;
    area.querySelectorAll('.jupyter-widgets, .lab-live-log, svg').forEach((el) => {
      const box = el.getBoundingClientRect();
      if (!box.width) return;  // hidden (another tab)
      const style = getComputedStyle(el);
      const scrolls = ['auto', 'scroll'].includes(style.overflowX);
      if (box.right > edge) found.push(`output ${n}: ${name(el)} sticks out by ${Math.round(box.right - edge)} px`);
      if (!scrolls && el.scrollWidth > el.clientWidth + 2 && el.tagName !== 'svg')
        found.push(`output ${n}: ${name(el)} cuts ${el.scrollWidth - el.clientWidth} px of its content`);
    });
  });
  // A tab title Lumino shortened with an ellipsis ("Convers...") is cut too.
  document.querySelectorAll('.jp-OutputArea-output .lm-TabBar-tabLabel').forEach((label) => {
    if (!label.getBoundingClientRect().width) return;
    if (label.scrollWidth > label.clientWidth + 1)
      found.push(`tab title "${label.textContent}" is cut to ${label.clientWidth} of ${label.scrollWidth} px`);
  });
  return found;
}"""

SIZES = [(1024, 768), (1280, 800), (1920, 1080)]


@pytest.mark.parametrize("width, height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_no_view_clips_its_content_beside_the_file_browser(chromium, jupyterlab, artifacts,
                                                            width, height):
    """At 1024x768, 1280x800 and 1920x1080 with the file browser open, no view is cut or sticks out."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in LAYOUT_CELLS],
                                metadata={"kernelspec": {"name": "python3", "language": "python",
                                                         "display_name": "Python 3"}}),
                   jupyterlab.root / "views-layout.ipynb")
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        steps = run_notebook(page, jupyterlab, artifacts, "views-layout.ipynb")
        steps.name = f"layout-{width}x{height}"
        with steps.step("open the file browser beside the notebook"):
            page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
            page.locator(".jp-FileBrowser").first.wait_for(state="visible", timeout=10_000)
            page.wait_for_timeout(1000)  # let the notebook panel settle at its new width
        with steps.step("the dashboard's tabs and chosen listener are on the first screen"):
            dash = page.locator(".lab-dashboard").first
            dash.scroll_into_view_if_needed()
            tabs = dash.locator(".lm-TabBar").first.bounding_box()
            assert tabs and tabs["y"] + tabs["height"] <= height, tabs
        for tab in ("Conversation", "Client", "Reactor", "Chains", "Plugins"):
            with steps.step(f"no view is cut with the dashboard on its {tab} tab"):
                dash.locator(".lm-TabBar-tab", has_text=tab).first.click()
                page.wait_for_timeout(300)
                clipped = page.evaluate(JS_CLIPPED)
                assert not clipped, "\n".join(clipped)
        with steps.step("a click on a ladder's stage selects it"):
            view = page.locator(".lab-ladder-view").last
            view.scroll_into_view_if_needed()
            detail = page.locator(".lab-stage-detail").last
            expect(detail).to_contain_text("parse_a_rather_long_request_line")  # stage 0 at first
            view.locator('g[data-stage="1"]').first.click()
            expect(detail).to_contain_text("and_a_long_named_errback_that_recovers",
                                           timeout=10_000)
            view.locator('g[data-stage="0"]').first.click()
            expect(detail).to_contain_text("parse_a_rather_long_request_line", timeout=10_000)
        steps.screenshot()
        if (width, height) == (1280, 800):
            with steps.step("take the README's pictures"):
                _take_pictures(page, artifacts)

    finally:
        context.close()
        jupyterlab.shut_down_kernels()


# The README's pictures: (file, a locator for the view).  Kept in test-artifacts/ on every
# run; copied over docs/pictures/ when LAB_UPDATE_PICTURES=1 (so the README stays current
# without every test run touching the work tree).
PICTURES = [
    ("dashboard.png", lambda page: page.locator(".lab-dashboard").first),
    ("conversation.png", lambda page: page.locator(".lab-conversation-view").nth(1)),
    ("ladder.png", lambda page: page.locator(".lab-ladder").last),
    ("plugin-graph.png", lambda page: page.locator(".jp-OutputArea-output svg").last),
]


def _take_pictures(page, artifacts):
    import os
    import shutil

    from tests.conftest import ROOT

    dash = page.locator(".lab-dashboard").first
    dash.locator(".lm-TabBar-tab", has_text="Conversation").first.click()
    page.wait_for_timeout(500)
    target = ROOT / "docs" / "pictures"
    for name, find in PICTURES:
        view = find(page)
        view.scroll_into_view_if_needed()
        path = artifacts / f"picture-{name}"
        view.screenshot(path=str(path))
        if os.environ.get("LAB_UPDATE_PICTURES") == "1":
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / name)


GONE_CELLS = [
    """import lab
from lab.widgets import ConversationView
lab.start()
listener = lab.listen("echo", name="gone")
made = []""",
    "view = ConversationView(listener)\nmade.append(view)\nview",
    "print('view counts:', [v._view_count for v in made], 'skipped:', "
    "[v._had_views and not v._view_count for v in made])",
]


def test_a_rerun_cells_old_view_stops_refreshing(page, jupyterlab, artifacts):
    """Re-running a cell clears its old view's output; that view then skips its refreshes."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in GONE_CELLS],
                                metadata={"kernelspec": {"name": "python3", "language": "python",
                                                         "display_name": "Python 3"}}),
                   jupyterlab.root / "views-gone.ipynb")
    steps = run_notebook(page, jupyterlab, artifacts, "views-gone.ipynb")
    steps.name = "views-gone"
    with steps.step("run the view's cell again, then ask the kernel about both views"):
        for index in (1, 2):
            page.evaluate("(i) => { const nb = window.jupyterapp.shell.currentWidget;"
                          " nb.content.activeCellIndex = i; }", index)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
            page.wait_for_timeout(1500)
        expect(page.get_by_text("view counts: [0, 1] skipped: [True, False]")).to_be_visible(
            timeout=15_000)
