"""The classroom notebook in real JupyterLab (headless Chromium): the listeners panel shows refusals, at three window sizes."""

import pytest

from tests.browser_support import (CHROMIUM, CHROMIUM_ARGS, VIEWPORT, JupyterLabServer,
                                   open_and_run_notebook)

pytestmark = pytest.mark.browser
SIZES = ({"width": 1024, "height": 768}, VIEWPORT, {"width": 1920, "height": 1080})


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/ and one Chromium page on it."""
    from playwright.sync_api import sync_playwright

    server = JupyterLabServer(tmp_path_factory.mktemp("jupyterlab-classroom")).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.server = server
            yield page
            context.close()
            browser.close()
    finally:
        server.stop()


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
