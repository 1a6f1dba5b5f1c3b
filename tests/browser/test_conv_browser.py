"""A conv net on Draw, in Chromium: the shipped conv net's guess beside the MLP's, the switch to
it, its feature maps following each drawing on the real canvas, a click on a map showing the
arithmetic that made it, the other why views, and the same on a phone.

Records the server time of each stroke with the feature maps open to
artifacts/conv_why_timing.json (recorded, not asserted). Screenshots: artifacts/conv-*.png.
"""
import json
import shutil
import statistics
from pathlib import Path

import pytest

from tests.browser.conftest import served, wait_for_images
from tests.browser.test_draw_browser import clear, open_draw_page, stroke, wait_for_prediction
from tests.browser.test_why_browser import draw_and_time, open_why
from tests.helpers.browser import STROKES

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CONVNET = ROOT / "model" / "mnist" / "convnet.npz"
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300),
              pytest.mark.skipif(not CONVNET.exists(), reason="no shipped conv net")]

# the feature-map chart's guess (the output text in the guess colour), or null
MAPS_GUESS_JS = """() => {
    for (const svg of document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')) {
        const texts = [...svg.querySelectorAll('text')];
        if (!texts.some(t => t.textContent.startsWith('Conv 1:'))) continue;
        const guess = texts.find(t => t.getAttribute('fill') === '#e4572e' && !t.textContent.endsWith('%'));
        return guess ? guess.textContent.trim() : null;
    }
    return null;
}"""


@pytest.fixture(scope="module")
def conv_url(tmp_path_factory):
    with served(tmp_path_factory, "conv") as (url, model_dir):
        shutil.copy2(CONVNET, model_dir / "mnist" / "convnet.npz")
        yield url


def wait_for_maps(page, digit, timeout=30_000):
    page.wait_for_function(f"() => ({MAPS_GUESS_JS})() === {json.dumps(digit)}",
                           timeout=timeout, polling=50)


def test_the_conv_nets_feature_maps_follow_the_drawing(conv_url, page, screenshot):
    canvas = open_draw_page(page, conv_url, 900)
    stroke(page, canvas.bounding_box(), STROKES["7"])
    wait_for_prediction(page, "7")
    page.get_by_text("The conv net says").wait_for()
    screenshot("conv-1-beside")
    page.get_by_role("button", name="Use the pretrained conv net").click()
    page.get_by_text("In use: the pretrained conv net", exact=True).wait_for()
    canvas = page.locator("canvas.upper-canvas")
    canvas = clear(page, canvas)
    open_why(page)
    timings = []
    for digit in list(STROKES) * 2:
        timings.append(draw_and_time(page, canvas, digit))
        wait_for_maps(page, digit)                       # the maps follow every drawing
        canvas = clear(page, canvas)
    stroke(page, canvas.bounding_box(), STROKES["7"])
    wait_for_maps(page, "7")
    page.get_by_text("Look inside a map").wait_for()
    wait_for_images(page)
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has=page.locator("svg image"))
    chart.scroll_into_view_if_needed()
    page.mouse.wheel(0, -120)
    screenshot("conv-2-maps")
    # a click on a map of the second conv layer: its arithmetic
    maps = page.locator('[data-testid="stVegaLiteChart"] svg image')
    assert maps.count() == 16 + 16 + 32 + 32
    maps.nth(16 + 16 + 5).click()
    page.get_by_role("heading", name="Conv 2, map 5").wait_for()
    page.get_by_text("summed per input map").wait_for()
    wait_for_images(page)
    page.get_by_role("heading", name="Conv 2, map 5").scroll_into_view_if_needed()
    screenshot("conv-3-map")
    for tab, text, name in [("Which pixels mattered", "Every class at a glance", "saliency"),
                            ("What would make it another class", "uphill on the probability of",
                             "counterfactual"),
                            ("How little fools it", "A person sees the same drawing", "nudge")]:
        page.get_by_role("tab", name=tab).click()
        page.get_by_text(text).wait_for(timeout=60_000)
        wait_for_images(page)
        page.get_by_role("tab", name=tab).scroll_into_view_if_needed()
        screenshot(f"conv-4-{name}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="The network, lighting up").click()
    page.get_by_text("Look inside a map").wait_for()
    wait_for_images(page)
    chart.scroll_into_view_if_needed()
    screenshot("conv-5-phone")
    page.get_by_text("What this map responds to").scroll_into_view_if_needed()
    screenshot("conv-6-phone-map")
    values = [v for v in timings if v is not None]
    figures = {"server_ms_maps_open": timings,
               "server_median_ms_maps_open": statistics.median(values) if values else None}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "conv_why_timing.json").write_text(json.dumps(figures, indent=2))
    print("conv why timing:", figures)
