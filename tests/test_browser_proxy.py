"""The proxy notebook in real JupyterLab, in headless Chromium: it runs and its panel answers clicks."""

import pytest
from playwright.sync_api import expect

from tests.test_browser import run_notebook

pytestmark = pytest.mark.browser
SIZES = ((1024, 768), (1280, 800), (1920, 1080))


def test_proxy_notebook_and_its_panel(page, jupyterlab, artifacts):
    """Notebook 08 runs without errors; the panel shows both legs and its fault buttons work.

    One run; the page is then shown at 1024x768, 1280x800 and 1920x1080 for the screenshots.
    """
    steps = run_notebook(page, jupyterlab, artifacts, "08-proxy.ipynb")
    panel = page.locator(".lab-proxy-panel").last
    with steps.step("the panel shows the legs of the memcached proxy"):
        panel.scroll_into_view_if_needed()
        expect(panel.locator(".lab-proxy-legs")).to_contain_text("client leg")
        expect(panel.get_by_role("button", name="Forward all")).to_be_visible()
    with steps.step("Apply faults with a fragment size sets them"):
        panel.get_by_label("fragment B").fill("4")
        panel.get_by_role("button", name="Apply faults").click()
        expect(panel.locator(".widget-html").first).to_contain_text("fragment=4", timeout=10_000)
    with steps.step("the notebook's static pictures show both legs side by side"):
        expect(page.locator(".lab-proxy-legs").first).to_contain_text("server leg")
    for width, height in SIZES:
        with steps.step(f"the panel at {width}x{height}"):
            page.set_viewport_size({"width": width, "height": height})
            panel.scroll_into_view_if_needed()
            expect(panel.get_by_role("button", name="Apply faults")).to_be_visible()
            panel.screenshot(path=str(artifacts / f"browser-08-proxy-panel-{width}x{height}.png"))
    steps.screenshot()
