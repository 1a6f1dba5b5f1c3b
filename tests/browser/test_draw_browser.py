"""Draw digits with the mouse on the real canvas in Chromium and read the network's guess.

Also measures the browser round trip (mouse-up to the updated "Prediction" on screen) and the
server time the page reports for each update; the figures go to artifacts/draw_timing.json for
the README. They are recorded, not asserted: a busy machine must not fail a test.
"""
import json
import statistics
import time
from pathlib import Path

import pytest

from tests.browser.conftest import wait_for_images
from tests.helpers.browser import ON_CANVAS_JS, PREDICTION_JS, STROKES, wait_until_drawable

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SERVER_MS_JS = """() => {
    const p = [...document.querySelectorAll('p')].find(e => e.textContent.startsWith('Server time'));
    const m = p && p.textContent.match(/([\\d.]+) ms/);
    return m ? parseFloat(m[1]) : null;
}"""


def open_draw_page(page, app_url, height):
    """The Draw page with its canvas ready for strokes; returns the canvas locator."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.goto(f"{app_url}/draw")
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for()
    wait_until_drawable(page, canvas)
    return canvas


def clear(page, canvas):
    """Press Clear; return the new, empty canvas once it takes strokes."""
    canvas.evaluate("c => { c.dataset.old = '1'; }")
    page.get_by_role("button", name="Clear").click()
    wait_for_prediction(page, None)
    fresh = page.locator("canvas.upper-canvas:not([data-old])")
    fresh.wait_for()
    wait_until_drawable(page, fresh)
    return fresh


def stroke(page, box, points):
    """Draw one stroke with the mouse; return the time of the mouse-up."""
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=2)
    page.mouse.up()
    return time.perf_counter()


def wait_for_prediction(page, expected, timeout=15_000):
    page.wait_for_function(f"() => ({PREDICTION_JS})() === {json.dumps(expected)}",
                           timeout=timeout, polling=10)


def test_draw_digits_and_read_the_guess(app_url, page, screenshot):
    canvas = open_draw_page(page, app_url, 1300)
    page.get_by_text("Draw a digit in the black square").wait_for()
    assert page.evaluate(PREDICTION_JS) is None, "an empty canvas shows an invitation, not a guess"
    screenshot("draw-1-empty")
    box = canvas.bounding_box()
    assert round(box["width"]) == 280 and round(box["height"]) == 280

    round_trips, server_ms = [], []
    for repeat in range(2):
        for digit, points in STROKES.items():
            previous = page.evaluate(SERVER_MS_JS)
            mouse_up = stroke(page, canvas.bounding_box(), points)
            wait_for_prediction(page, digit)
            round_trips.append(time.perf_counter() - mouse_up)
            # the figure is the last element the run sends: wait for it to change
            page.wait_for_function(f"() => ({SERVER_MS_JS})() !== {json.dumps(previous)}")
            server_ms.append(page.evaluate(SERVER_MS_JS))
            if repeat == 0:
                screenshot(f"draw-2-digit-{digit}")
            canvas = clear(page, canvas)

    # the steps of the pipeline, drawn when the expander opens
    stroke(page, canvas.bounding_box(), STROKES["0"])
    wait_for_prediction(page, "0")
    page.get_by_text("How a drawing becomes the 784 numbers").click()
    page.get_by_text("Centre of mass at (14, 14)").wait_for()
    wait_for_images(page)
    screenshot("draw-3-pipeline")
    # switching a step off changes what the network receives (and maybe the guess)
    page.get_by_text("Fit a 20x20 box", exact=True).click()
    page.get_by_text("Stretched to 28 x 28").wait_for()
    assert page.evaluate(PREDICTION_JS) is not None
    screenshot("draw-4-stretched")

    timing = {"round_trip_ms": [round(t * 1000) for t in round_trips],
              "round_trip_median_ms": round(statistics.median(round_trips) * 1000),
              "server_ms": server_ms,
              "server_median_ms": statistics.median([s for s in server_ms if s is not None])}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "draw_timing.json").write_text(json.dumps(timing, indent=2))
    print("draw timing:", timing)


def test_test_image_then_a_drawing_and_the_drawing_kept_across_pages(app_url, page, screenshot):
    canvas = open_draw_page(page, app_url, 1100)
    page.get_by_role("button", name="Test image", exact=True).click()
    page.get_by_text("Test image #").wait_for()
    # the guess of that image (its parts of the page may show a moment apart)
    page.wait_for_function(f"() => ({PREDICTION_JS})() !== null")
    screenshot("draw-5-test-image")

    stroke(page, canvas.bounding_box(), STROKES["7"])      # drawing goes back to the drawing
    wait_for_prediction(page, "7")
    page.get_by_role("link", name="Inspect").click()
    # the Inspect page's metric (the sidebar also says "test accuracy" of the current model)
    page.get_by_test_id("stMetricLabel").filter(has_text="Test accuracy").wait_for()
    page.get_by_role("link", name="Draw").click()
    canvas.wait_for()
    wait_for_prediction(page, "7")          # the drawing is still there, and still classified
    wait_for_images(page)
    screenshot("draw-6-back-from-inspect")


def test_a_stroke_starting_at_the_top_edge_is_drawn(app_url, page, screenshot):
    """The canvas's toolbar (undo, redo, reset) used to lie hidden over the top 30 px of the canvas
    until the mouse had hovered there for 0.2 s: a quick stroke, or a touch, starting in that strip
    was swallowed. The page moves the toolbar above the canvas."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    canvas = open_draw_page(page, app_url, 1100)
    box = canvas.bounding_box()
    # the page's script moves the toolbar a moment after the canvas appears
    try:
        page.wait_for_function(ON_CANVAS_JS, arg=[box["x"] + 250, box["y"] + 4], timeout=5_000)
    except PlaywrightTimeout:
        raise AssertionError("the top-right corner of the canvas must be the canvas, not its "
                             "toolbar") from None
    # a 1 from the top-right corner down to the left, pressed the moment the mouse arrives
    stroke(page, box, [(255 - 6 * i, 3 + 12 * i) for i in range(21)])
    wait_for_prediction(page, "1")
    screenshot("draw-7-stroke-from-top-edge")
