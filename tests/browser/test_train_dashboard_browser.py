"""The Train page as an instrument, measured in a real browser: while a run trains, the headline
figures, both curves and the four inside views are all on one 1400x900 screen (bounding boxes
fully inside the viewport, nothing scrolled), and still once the run has finished (its verdict
and buttons above) or diverged (the explanation beside a lesson's card); on a 390x844 phone the
same page stacks, without anything wider than the screen.

Screenshots: artifacts/dashboard-1400x900-training.png, dashboard-390x844-training.png,
dashboard-1400x900-finished.png, -lesson-finished.png, -diverged.png.
Everything waits for what a visitor sees; no timing assertions.
"""
import re

import pytest

from tests.browser.conftest import set_network, wait_for_images, wait_for_step_above
from tests.helpers.browser import DASHBOARD_FINDERS_JS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

WAIT = 120_000

# {name: [left, top, right, bottom]} of what the dashboard shows, in viewport pixels, and the
# page's widths; a view missing from the page is left out.
BOXES_JS = "() => {\n" + DASHBOARD_FINDERS_JS + """
    const views = {
        "headline": [...document.querySelectorAll('[data-testid="stMetric"]')].slice(0, 6),
        "loss curve": [chart('Loss')], "accuracy curve": [chart('Accuracy')],
        "first-layer units": [image('What the units look for')],
        "guesses": [image('Its guesses')], "hidden-space map": [chart('The hidden space')],
        "layer health": [chart('Layer health')],
    };
    const out = {};
    for (const [name, elements] of Object.entries(views)) {
        const boxes = elements.map(box).filter(b => b);
        if (boxes.length)
            out[name] = [Math.min(...boxes.map(b => b[0])), Math.min(...boxes.map(b => b[1])),
                         Math.max(...boxes.map(b => b[2])), Math.max(...boxes.map(b => b[3]))];
    }
    return {views: out, scrollWidth: document.documentElement.scrollWidth,
            bodyWidth: document.body.scrollWidth, width: window.innerWidth,
            height: window.innerHeight};
}"""
VIEWS = ("headline", "loss curve", "accuracy curve", "first-layer units", "guesses",
         "hidden-space map", "layer health")


def wait_for_app(page):
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=WAIT)


def measure_while_training(browser, app_url, width, height, name, hidden="64", epochs=300):
    """Open Train at ``width`` x ``height``, start a long run, wait until every view of the
    dashboard shows, screenshot it (artifacts/<name>.png) and return the measures; the run is
    stopped afterwards."""
    from tests.browser.conftest import ARTIFACTS
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    try:
        page.goto(f"{app_url}/train")
        page.get_by_role("heading", name="Train a network").wait_for()
        wait_for_app(page)
        if width < 640:                 # a phone: the settings are behind the side panel's button
            page.get_by_test_id("stExpandSidebarButton").click()
        set_network(page, hidden, epochs)
        if width < 640:
            page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
        wait_for_app(page)
        page.get_by_role("button", name=re.compile("Start")).click()
        first = wait_for_step_above(page, -1, timeout=WAIT)
        wait_for_step_above(page, first, timeout=WAIT)           # and it moves on
        page.wait_for_function(
            f"() => {{ const v = ({BOXES_JS})().views; "
            f"return {list(VIEWS)!r}.every(n => n in v); }}", timeout=WAIT, polling=250)
        wait_for_images(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        measures = page.evaluate(BOXES_JS)
        stop = page.get_by_role("button", name=re.compile("Stop"))
        if stop.is_enabled():
            stop.click()
            page.get_by_text("Draw a digit into it").first.wait_for()
        return measures
    finally:
        context.close()


def test_the_run_is_one_screen_at_1400x900(app_url, browser):
    measures = measure_while_training(browser, app_url, 1400, 900,
                                      "dashboard-1400x900-training")
    views = measures["views"]
    outside = {name: [round(v) for v in views[name]] for name in VIEWS
               if not (views[name][0] >= 0 and views[name][1] >= 0
                       and views[name][2] <= measures["width"]
                       and views[name][3] <= measures["height"])}
    assert not outside, (f"not fully in the 1400x900 screen while training (left, top, right, "
                         f"bottom): {outside}; all: {views}")
    # the curves are large enough to read from the back of a room
    for name in ("loss curve", "accuracy curve", "layer health"):
        left, top, right, bottom = views[name]
        assert right - left >= 300 and bottom - top >= 180, f"{name} is small: {views[name]}"


def test_the_run_stacks_on_a_phone_without_running_off_the_side(app_url, browser):
    measures = measure_while_training(browser, app_url, 390, 844, "dashboard-390x844-training")
    views = measures["views"]
    assert measures["scrollWidth"] <= 390 and measures["bodyWidth"] <= 390, measures
    wide = {name: box for name, box in views.items() if box[0] < 0 or box[2] > 390}
    assert not wide, f"wider than the phone: {wide}"
    # stacked: each view below the one before it, not beside it
    order = ["loss curve", "accuracy curve", "hidden-space map", "first-layer units", "guesses",
             "layer health"]
    tops = [views[name][1] for name in order]
    assert tops == sorted(tops), dict(zip(order, tops))


def measure_after_the_run(browser, app_url, state):
    """Open Train at 1400x900 and end a run as ``state`` says: "finished" (a short 784-32-10 run
    that finishes, its verdict and buttons shown), "stopped" (a long one stopped with Stop after
    20 steps: the verdict says where), "lesson finished" (the same under Home's
    lesson "Ten units, ten pictures", its card above) or "diverged" (Home's lesson with learning
    rate 5: its card and the explanation shown side by side); screenshot it
    (artifacts/dashboard-1400x900-<state>.png) and return the measures, with the document's
    scroll height and the verdict's box."""
    from tests.browser.conftest import ARTIFACTS, wait_for_run_to_finish
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    try:
        link = {"finished": "", "stopped": "", "lesson finished": "?lesson=tiny",
                "diverged": "?experiment=diverge"}[state]
        page.goto(f"{app_url}/train{link}")
        page.get_by_role("heading", name="Train a network").wait_for()
        wait_for_app(page)
        if state == "finished":
            set_network(page, "32", 2)
        elif state == "stopped":
            set_network(page, "32", 50)
        else:
            page.get_by_text("Plan:").first.wait_for()
        wait_for_app(page)
        page.get_by_role("button", name=re.compile("Start")).click()
        if state == "stopped":
            wait_for_step_above(page, 20, timeout=WAIT)
            page.get_by_role("button", name=re.compile("Stop")).click()
            verdict = page.get_by_test_id("stAlertContainer").filter(has_text="Stopped at step")
        elif state != "diverged":
            wait_for_run_to_finish(page)
            verdict = page.get_by_test_id("stAlertContainer").filter(has_text="Test accuracy")
        else:
            verdict = page.get_by_test_id("stAlertContainer").filter(has_text="Training diverged")
        verdict.first.wait_for()
        wait_for_app(page)
        page.wait_for_function(
            f"() => {{ const v = ({BOXES_JS})().views; "
            f"return {list(VIEWS)!r}.every(n => n in v); }}", timeout=WAIT, polling=250)
        wait_for_images(page)
        ARTIFACTS.mkdir(exist_ok=True)
        name = f"dashboard-1400x900-{state.replace(' ', '-')}"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        measures = page.evaluate(BOXES_JS)
        box = verdict.first.bounding_box()
        measures["verdict"] = [box["x"], box["y"], box["x"] + box["width"],
                               box["y"] + box["height"]]
        measures["documentHeight"] = page.evaluate(
            "() => document.scrollingElement.scrollHeight")
        return measures
    finally:
        context.close()


@pytest.mark.parametrize("state", ["finished", "stopped", "lesson finished", "diverged"])
def test_an_ended_run_is_still_one_screen_at_1400x900(app_url, browser, state):
    """The verdict (a finished run's figures and buttons, a diverged run's explanation beside its
    lesson) fits above the run: the whole run is still in view. (Streamlit scrolls its main
    area, not the document; what lies below the dashboard, the model files, may need it.)"""
    measures = measure_after_the_run(browser, app_url, state)
    assert measures["documentHeight"] <= measures["height"] + 4, measures
    views = {**measures["views"], "verdict": measures["verdict"]}
    outside = {name: [round(v) for v in box] for name, box in views.items()
               if not (box[0] >= 0 and box[1] >= 0 and box[2] <= measures["width"] + 1
                       and box[3] <= measures["height"] + 1)}
    assert not outside, (f"not fully in the 1400x900 screen once the run {state} (left, top, "
                         f"right, bottom): {outside}; all: {views}")
    for name in ("loss curve", "accuracy curve", "layer health"):
        left, top, right, bottom = views[name]
        assert right - left >= 300 and bottom - top >= 180, f"{name} is small: {views[name]}"
