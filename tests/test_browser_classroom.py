"""The classroom notebook in real JupyterLab (headless Chromium): the listeners panel shows refusals, at three window sizes."""

import pytest

from tests.browser_support import VIEWPORT, JupyterLabServer, open_and_run_notebook

pytestmark = pytest.mark.browser
SIZES = ({"width": 1024, "height": 768}, VIEWPORT, {"width": 1920, "height": 1080})


@pytest.fixture(scope="module")
def classroom_lab(tmp_path_factory):
    """A JupyterLab server of its own, on a fresh copy of notebooks/."""
    server = JupyterLabServer(tmp_path_factory.mktemp("jupyterlab-classroom")).start()
    yield server
    server.stop()


@pytest.fixture
def page(chromium, classroom_lab):
    """A page of the session's Chromium, on the classroom's JupyterLab."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.server = classroom_lab
    yield page
    context.close()


def test_classroom_notebook_shows_the_refusal_in_the_panel(page, artifacts):
    """09-classroom runs without errors; its listeners panel has a refused column and the reason, at every size."""
    assert [] == open_and_run_notebook(page, page.server, "09-classroom.ipynb")
    panel = page.locator(".lab-listeners-table").first
    panel.scroll_into_view_if_needed()
    for size in SIZES:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)
        refusal = page.locator(".lab-refusal").first
        refusal.scroll_into_view_if_needed()
        text = refusal.inner_text()
        assert "refused: this listener already has 1 open connections" in text
        assert "refused" in panel.inner_text()
        page.screenshot(path=str(artifacts / f"browser-09-classroom-{size['width']}.png"))
