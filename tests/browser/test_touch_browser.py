"""Drawing with a finger: a phone-sized screen (390 px wide) with touch, strokes sent as real
touch events (CDP Input.dispatchTouchEvent), the guess shown."""
import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers.browser import PREDICTION_JS, STROKES

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def touch_stroke(session, box, points, scale):
    """One finger stroke through ``points`` (canvas pixels of the 280 x 280 design)."""
    def at(x, y):
        return [{"x": box["x"] + x * scale, "y": box["y"] + y * scale, "id": 1}]
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*points[0])})
    for x, y in points[1:]:
        session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": at(x, y)})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_digit_drawn_with_a_finger_on_a_phone_is_read(app_url, phone):
    phone.goto(f"{app_url}/draw")
    canvas = phone.locator("canvas.upper-canvas")
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, "the canvas fits the screen"
    scale = box["width"] / 280
    session = phone.context.new_cdp_session(phone)
    for attempt in range(20):                    # until the canvas has set up its pen
        touch_stroke(session, box, STROKES["1"], scale)
        try:
            phone.wait_for_function(f"() => ({PREDICTION_JS})() !== null", timeout=3_000)
            break
        except Exception:
            phone.wait_for_timeout(250)
    else:
        raise AssertionError("no guess after touch strokes")
    guess = phone.evaluate(PREDICTION_JS)
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "touch-1-phone.png"))
    assert guess == "1", guess
