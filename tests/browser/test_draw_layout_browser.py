"""Where Draw puts the guess (issue 21, items 4 and 5): on a 390x844 phone the canvas and the guess
(prediction, confidence, the bars) are both in the first screen after drawing; at 1400x900 the
guess is beside the canvas; after a run the run's guess and the pretrained model's are both shown,
with which one is in use said. Screenshots: artifacts/draw-layout-*.png."""
import re

import pytest

from tests.browser.conftest import ARTIFACTS, set_network, wait_for_images
from tests.browser.test_draw_browser import stroke, wait_for_prediction
from tests.helpers.browser import STROKES, wait_until_drawable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}

# The boxes (left, top, right, bottom, in viewport pixels) of the guess (the canvas is in a shadow
# root: see boxes()).
BOXES_JS = """() => {
    const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
    const metric = name => [...document.querySelectorAll('[data-testid="stMetric"]')].find(
        m => m.querySelector('[data-testid="stMetricLabel"]').innerText.trim().startsWith(name));
    return {prediction: box(metric('Prediction')), confidence: box(metric('Confidence')),
            bars: box(document.querySelector('[data-testid="stVegaLiteChart"]'))};
}"""


@pytest.fixture
def new_page(browser):
    """new_page(viewport) -> a page of its own (closed afterwards)."""
    contexts = []

    def make(viewport):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page
    yield make
    for context in contexts:
        context.close()


def draw_a_seven(page, app_url):
    """Open Draw, draw a 7 with the mouse, wait for the guess and for the bars to be drawn."""
    page.goto(f"{app_url}/draw")
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for()
    box = wait_until_drawable(page, canvas)
    stroke(page, box, STROKES["7"])
    wait_for_prediction(page, "7")
    bars_drawn(page)
    return boxes(page)


def boxes(page):
    """{name: (left, top, right, bottom)} of the canvas, the prediction, confidence and bars."""
    found = page.evaluate(BOXES_JS)
    box = page.locator("canvas.upper-canvas").bounding_box()
    found["canvas"] = box and [box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]]
    return found


def bars_drawn(page):
    """Wait until the probability bars are drawn and every image has loaded."""
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for()
    wait_for_images(page)


def inside(box, viewport):
    left, top, right, bottom = box
    return left >= 0 and top >= 0 and right <= viewport["width"] and bottom <= viewport["height"]


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_on_a_phone_the_canvas_and_the_guess_are_in_the_first_screen(app_url, new_page):
    page = new_page(PHONE)
    boxes = draw_a_seven(page, app_url)
    shot(page, "draw-layout-1-phone")
    assert page.evaluate("() => window.scrollY") == 0
    for name in ("canvas", "prediction", "confidence", "bars"):
        assert boxes[name] is not None, f"no {name} on the page"
        assert inside(boxes[name], PHONE), f"the {name} {boxes[name]} is not in the 390x844 screen"


def test_on_a_desktop_the_guess_is_beside_the_canvas(app_url, new_page):
    page = new_page(DESKTOP)
    boxes = draw_a_seven(page, app_url)
    shot(page, "draw-layout-2-desktop")
    canvas, prediction, bars = boxes["canvas"], boxes["prediction"], boxes["bars"]
    assert prediction[0] >= canvas[2] and bars[0] >= canvas[2], "right of the canvas"
    assert prediction[1] < canvas[3] and bars[1] < canvas[3], "level with the canvas"
    for name in ("canvas", "prediction", "confidence", "bars"):
        assert inside(boxes[name], DESKTOP), f"the {name} {boxes[name]} is not in 1400x900"


def test_after_a_run_both_guesses_are_shown_and_which_is_in_use(app_url, new_page):
    page = new_page(DESKTOP)
    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    set_network(page, "16", 1)
    page.get_by_role("button", name=re.compile("Start")).click()
    page.get_by_text(re.compile("Draw and Inspect now use this run's model")).wait_for(
        timeout=120_000)
    page.get_by_role("link", name="Draw", exact=True).click()
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for()
    stroke(page, wait_until_drawable(page, canvas), STROKES["7"])
    says = page.get_by_test_id("stMetric").filter(has_text="The pretrained model says")
    says.wait_for()
    page.locator("strong", has_text=re.compile(r"^In use: your run")).wait_for()
    page.get_by_text("Beside it, for comparison: the pretrained model").wait_for()
    bars_drawn(page)
    shot(page, "draw-layout-3-after-a-run-desktop")
    page.set_viewport_size(PHONE)
    page.reload()                               # as a phone opens it: the sidebar closed
    says.wait_for()
    canvas_bottom = page.locator("canvas.upper-canvas").bounding_box()["y"] + 280
    page.wait_for_function(f"() => ({BOXES_JS})().prediction[1] > {canvas_bottom}")  # stacked
    shot(page, "draw-layout-4-after-a-run-phone")

    # back to the pretrained model from Draw: it is in use, the run beside it
    page.set_viewport_size(DESKTOP)
    page.reload()
    page.get_by_role("button", name="Use the pretrained model").click()
    page.get_by_text("In use: the pretrained model", exact=True).wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("the pretrained model").wait_for()      # the sidebar says it too
    page.get_by_test_id("stMetric").filter(has_text="Your run says").wait_for()
    bars_drawn(page)
    shot(page, "draw-layout-5-pretrained-in-use")


def test_the_brush_is_in_a_compact_popover_and_still_sets_the_width(app_url, new_page):
    page = new_page(PHONE)
    page.goto(f"{app_url}/draw")
    page.locator("canvas.upper-canvas").wait_for()
    page.get_by_role("button", name=re.compile(r"Brush 20")).click()
    slider = page.get_by_role("slider", name="Brush width")
    slider.wait_for()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile(r"Brush 22")).wait_for()
    shot(page, "draw-layout-6-brush-22-phone")
