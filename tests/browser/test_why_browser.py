"""Why did it say that? In Chromium: open the Draw page's "why" views, draw digits on the real
canvas, watch the network diagram follow each one, pick a unit by clicking its circle and with
the selector, and look at the other views (saliency, counterfactual, nudge) and Inspect's.

Also records the server time of each stroke with the diagram open, and with it closed (each
digit drawn both ways in turn), to artifacts/why_timing.json for the README (recorded, not
asserted: a busy machine must not fail a test). Every wait is for something a user would see,
never for a fixed time.
"""
import json
import re
import statistics
from pathlib import Path

import pytest

from tests.browser.conftest import wait_for_images
from tests.browser.test_draw_browser import (
    SERVER_MS_JS,
    clear,
    open_draw_page,
    stroke,
    wait_for_prediction,
)
from tests.helpers.browser import PREDICTION_JS, STROKES

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# The network diagram's SVG (the chart with the "Input 28x28" title), and in it the output label
# drawn in the guess's colour ("7 · 100%"): the class's name, or null.
DIAGRAM_GUESS_JS = """() => {
    for (const svg of document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')) {
        const texts = [...svg.querySelectorAll('text')];
        if (!texts.some(t => t.textContent === 'Input 28x28')) continue;
        const guess = texts.find(t => t.getAttribute('fill') === '#e4572e');
        return guess ? guess.textContent.split(' · ')[0].trim() : null;
    }
    return null;
}"""
# The aria-labels of the diagram's unit circles ("...; what: hidden layer 2, unit 17; ...").
UNIT_LABELS_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg path')]
    .map(p => p.getAttribute('aria-label') || '')
    .filter(label => /what: hidden layer \\d+, unit \\d+/.test(label))"""


def open_why(page):
    """Open (or close) the "Why did it say that?" expander."""
    page.get_by_text("Why did it say that?").click()


def wait_for_diagram(page, digit, timeout=20_000):
    page.wait_for_function(f"() => ({DIAGRAM_GUESS_JS})() === {json.dumps(digit)}",
                           timeout=timeout, polling=50)


def draw_and_time(page, canvas, digit):
    """Draw ``digit``; wait for the guess and the page's server-time figure to change; return
    (the server time of that update in ms, the canvas after Clear)."""
    previous = page.evaluate(SERVER_MS_JS)
    stroke(page, canvas.bounding_box(), STROKES[digit])
    wait_for_prediction(page, digit)
    page.wait_for_function(f"() => ({SERVER_MS_JS})() !== {json.dumps(previous)}")
    return page.evaluate(SERVER_MS_JS)


def test_the_network_lights_up_as_you_draw_and_a_unit_can_be_picked(app_url, page, screenshot):
    canvas = open_draw_page(page, app_url, 2200)
    invitation = page.get_by_text("to see why the network guesses what it does")

    # each digit drawn with the "why" open, then closed: pairs under the same load (the
    # machine's load changes from minute to minute)
    timings = {"open": [], "closed": []}
    is_open = False
    for round_ in range(2):
        for digit in STROKES:
            for state in ("open", "closed"):
                if is_open != (state == "open"):
                    open_why(page)                         # a click opens or closes it
                    is_open = not is_open
                    invitation.wait_for(state="visible" if is_open else "hidden")
                timings[state].append(draw_and_time(page, canvas, digit))
                if is_open:
                    wait_for_diagram(page, digit)          # the diagram follows every drawing
                    if round_ == 0 and digit == "7":
                        page.get_by_text("Look inside a unit").wait_for()
                        wait_for_images(page)
                        screenshot("why-1-network")
                canvas = clear(page, canvas)
    assert page.evaluate(PREDICTION_JS) is None
    open_why(page)
    invitation.wait_for()

    # a unit, chosen by clicking its circle: its arithmetic appears below
    stroke(page, canvas.bounding_box(), STROKES["7"])
    wait_for_diagram(page, "7")
    labels = page.evaluate(UNIT_LABELS_JS)
    assert labels, "the diagram draws the hidden units as circles"
    wanted = next((label for label in labels if "hidden layer 2" in label), labels[-1])
    layer, unit = re.search(r"what: hidden layer (\d+), unit (\d+)", wanted).groups()
    page.locator(f'[data-testid="stVegaLiteChart"] svg path[aria-label="{wanted}"]').click()
    page.get_by_role("heading", name=f"Hidden layer {layer}, unit {unit}").wait_for()
    page.get_by_text("Its weighted input, written out").wait_for()
    page.get_by_text("= z").first.wait_for()
    # ... and with the selector
    page.get_by_role("combobox", name="Look inside a unit").click()
    page.keyboard.type("Output 7")                    # the list is long: type to filter it
    page.get_by_role("option").filter(has_text="Output 7").click()
    page.get_by_role("heading", name="Output 7").wait_for()
    page.get_by_text("into a probability of").wait_for()
    wait_for_images(page)
    screenshot("why-2-unit")

    # the other views of the same drawing
    page.get_by_role("tab", name="Which pixels mattered").click()
    page.get_by_text("Every class at a glance").wait_for()
    wait_for_images(page)
    screenshot("why-3-saliency")
    page.get_by_role("tab", name="What would make it another class").click()
    page.get_by_text("uphill on the probability of").wait_for()
    wait_for_images(page)
    screenshot("why-4-counterfactual")
    page.get_by_role("tab", name="How little fools it").click()
    page.get_by_text("A person sees the same drawing").wait_for()
    wait_for_images(page)
    screenshot("why-5-nudge")

    figures = {f"server_ms_{state}": values for state, values in timings.items()}
    for state, values in timings.items():
        values = [v for v in values if v is not None]
        figures[f"server_median_ms_{state}"] = statistics.median(values) if values else None
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "why_timing.json").write_text(json.dumps(figures, indent=2))
    print("why timing:", figures)


def test_inspect_shows_the_network_and_the_class_dreams(app_url, page, screenshot):
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(f"{app_url}/inspect")
    page.get_by_role("tab", name="The network, lighting up").click()
    page.get_by_text("Look inside a unit").wait_for()
    page.wait_for_function(f"() => ({DIAGRAM_GUESS_JS})() !== null")
    page.get_by_text("Which pixels mattered").wait_for()
    wait_for_images(page)
    screenshot("why-6-inspect-network")
    page.get_by_role("tab", name="Class dreams").click()
    page.get_by_text("Each picture started as the average of its class").wait_for(timeout=60_000)
    wait_for_images(page)
    captions = page.get_by_text(re.compile(r"^\d \(\d+%\)$"))         # "3 (100%)" under each
    assert captions.count() == 10, "a row of ten dreams, each with its class and probability"
    screenshot("why-7-dreams")
