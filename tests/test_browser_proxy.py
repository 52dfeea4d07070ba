"""The proxy notebook in real JupyterLab, in headless Chromium: it runs and its panel answers clicks."""

import pytest
from playwright.sync_api import expect

from tests.test_browser import chromium, jupyterlab, page, run_notebook  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", [(1024, 768), (1280, 800), (1920, 1080)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_proxy_notebook_and_its_panel(page, jupyterlab, artifacts, size):  # noqa: F811
    """Notebook 08 runs without errors; the panel shows both legs and its fault buttons work."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    steps = run_notebook(page, jupyterlab, artifacts, "08-proxy.ipynb")
    steps.name = f"08-proxy-{size[0]}x{size[1]}"
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
    panel.screenshot(path=str(artifacts / f"browser-08-proxy-panel-{size[0]}x{size[1]}.png"))
    steps.screenshot()
