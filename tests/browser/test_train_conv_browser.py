"""A conv net trained on the Train page, in Chromium, as a student would: ``/train?preset=convnet``
(with a short length, so it ends soon on a loaded machine) opens the page with the preset chosen,
Start trains it, and while it trains the first conv layer's filters and one image's feature maps
show and change beside the curves, the guesses, the hidden space and layer health, all on one
1400x900 screen; on a 390x844 phone the same views stack without running off the side.

Screenshots: artifacts/conv-train-1400x900.png, conv-train-390x844.png (and -maps, scrolled to
the feature maps). Everything waits for what a visitor sees; no timing assertions.
"""
import re

import pytest

from tests.browser.conftest import ARTIFACTS, open_settings, wait_for_images, wait_for_step_above
from tests.helpers.browser import DASHBOARD_FINDERS_JS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

WAIT = 180_000
# the preset, 250 steps of 128 images: long enough to watch, short enough on a loaded machine
LINK = "/train?preset=convnet&length_unit=iterations&iterations=250"

# {view: [left, top, right, bottom]} in viewport pixels of each view the dashboard shows (views
# not on the page are left out), the first-conv-layer filters' and feature maps' picture URLs,
# whether a run is in progress, and the page's widths.
VIEWS_JS = "() => {\n" + DASHBOARD_FINDERS_JS + """
    const loaded = img => img && img.complete && img.naturalWidth > 0 ? img : null;
    const filters = loaded(image('The filters'));
    const maps = loaded(image('Feature maps of one image'));
    const views = {
        "headline": box([...document.querySelectorAll('[data-testid="stMetric"]')][5]),
        "loss curve": box(chart('Loss')), "accuracy curve": box(chart('Accuracy')),
        "hidden-space map": box(chart('The hidden space')),
        "filters": box(filters), "feature maps": box(maps),
        "guesses": box(loaded(image('Its guesses'))), "layer health": box(chart('Layer health')),
    };
    for (const name of Object.keys(views)) if (!views[name]) delete views[name];
    return {views, filters: filters ? filters.src : null, maps: maps ? maps.src : null,
            training: /Step [\\d,]+ of/.test(document.body.innerText),
            scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth,
            height: window.innerHeight};
}"""
VIEWS = ("headline", "loss curve", "accuracy curve", "hidden-space map", "filters",
         "feature maps", "guesses", "layer health")


def wait_for_app(page):
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=WAIT)


def start_the_convnet_link(browser, app_url, width, height):
    """A page at ``width`` x ``height`` on the link, its preset checked, Start pressed."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(app_url + LINK)
    page.get_by_role("heading", name="Train a network").wait_for()
    wait_for_app(page)
    phone = width < 640
    if phone:                 # the settings are behind the side panel's button
        page.get_by_test_id("stExpandSidebarButton").click()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text(re.compile("A small convolutional network")).wait_for()   # the preset's
    open_settings(page, "The network")
    box = sidebar.get_by_role("textbox", name="Hidden layers")
    # the link's settings arrive with a rerun: wait for them (one box, holding the preset's layers)
    from playwright.sync_api import expect
    expect(box).to_have_count(1, timeout=WAIT)
    expect(box).to_have_value("conv 16x5, pool 2, conv 32x5, pool 2, dense 128", timeout=WAIT)
    sidebar.get_by_text(re.compile(r"conv 16x5: 16 maps 24x24 → pool 2: 16 maps 12x12")).wait_for()
    sidebar.get_by_text(re.compile(r"Plan: a conv net")).wait_for()
    if phone:
        page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
    page.get_by_role("button", name=re.compile("Start")).click()
    return context, page


def watch_while_training(page):
    """Wait until, during the run, every view shows; then until the filters and the maps have
    changed (a later network's). Returns the measures at that moment."""
    wait_for_step_above(page, -1, timeout=WAIT)
    page.wait_for_function(
        f"() => {{ const m = ({VIEWS_JS})(); return m.training && "
        f"{list(VIEWS)!r}.every(n => n in m.views); }}", timeout=WAIT, polling=250)
    first = page.evaluate(VIEWS_JS)
    page.wait_for_function(
        f"first => {{ const m = ({VIEWS_JS})(); return m.training && m.filters && m.maps && "
        f"m.filters !== first.filters && m.maps !== first.maps; }}", arg=first, timeout=WAIT,
        polling=250)
    wait_for_images(page)
    return page.evaluate(VIEWS_JS)


def stop(page):
    button = page.get_by_role("button", name=re.compile("Stop"))
    if button.is_enabled():
        button.click()


def test_a_convnet_link_trains_with_its_filters_and_feature_maps_on_one_screen(app_url, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    context, page = start_the_convnet_link(browser, app_url, 1400, 900)
    try:
        watch_while_training(page)
        try:                  # a refresh may be redrawing a view: wait until it has settled
            page.wait_for_function(
                f"() => {{ const m = ({VIEWS_JS})(); return {list(VIEWS)!r}.every(n => n in "
                f"m.views && m.views[n][0] >= 0 && m.views[n][1] >= 0 && m.views[n][2] <= m.width "
                f"&& m.views[n][3] <= m.height); }}", timeout=30_000, polling=250)
        except PlaywrightTimeout:
            pass              # the assertion below says what is out of the screen
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "conv-train-1400x900.png"))
        # measured at a moment every view is drawn (a picture being replaced by the next refresh
        # is not loaded for a moment): the measures the page returns as it finds them so
        try:
            measures = page.wait_for_function(
                f"() => {{ const m = ({VIEWS_JS})(); return {list(VIEWS)!r}.every(n => n in "
                f"m.views) ? m : null; }}", timeout=60_000, polling=100).json_value()
        except PlaywrightTimeout:
            measures = page.evaluate(VIEWS_JS)
        views = measures["views"]
        assert set(VIEWS) <= set(views), f"missing: {set(VIEWS) - set(views)}"
        outside = {name: [round(v) for v in box] for name, box in views.items()
                   if not (box[0] >= 0 and box[1] >= 0 and box[2] <= measures["width"]
                           and box[3] <= measures["height"])}
        assert not outside, f"not fully in the 1400x900 screen while training: {outside}; {views}"
        left, top, right, bottom = views["feature maps"]
        assert right - left >= 250, f"the feature maps are small: {views['feature maps']}"
        left, top, right, bottom = views["filters"]
        assert right - left >= 120, f"the filters are small: {views['filters']}"
    finally:
        stop(page)
        context.close()


def test_a_convnet_run_stacks_on_a_phone(app_url, browser):
    context, page = start_the_convnet_link(browser, app_url, 390, 844)
    try:
        measures = watch_while_training(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "conv-train-390x844.png"))
        # found and scrolled to in one step: the live view's refresh replaces the heading often
        page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMarkdown"]')]
            .find(e => e.innerText.includes('Feature maps of one image'))
            ?.scrollIntoView({block: 'start'})""")
        page.screenshot(path=str(ARTIFACTS / "conv-train-390x844-maps.png"))
        assert measures["scrollWidth"] <= 390, measures
        wide = {name: box for name, box in measures["views"].items() if box[0] < 0 or box[2] > 390}
        assert not wide, f"wider than the phone: {wide}"
    finally:
        stop(page)
        context.close()
