"""The Train page's live view in a real browser: the inside of the network moves while it learns,
the replay goes back to the random start, and a diverged run keeps its curve.

Everything waits for what a visitor sees (generous timeouts, no timing assertions), so it holds on
a busy 2-core machine. The run is 784-64-10 on the recommended preset with 300 epochs, stopped by
the test once the live checks are done (on the bundled sample it would last a minute or more).
Its learning rate is the smallest the page offers (1e-5): with the preset's 0.001, the 20 images
of the guesses panel all settle within about 200 steps (well under a second), so a later refresh
would usually show exactly the same panel; at 1e-5 the guesses keep flipping for ~10,000 steps.
"""
import base64
import io
import re

import numpy as np
import pytest

from tests.browser.conftest import set_network

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

WAIT = 120_000                  # ms: what a busy machine may need for one visible change
# The step the replay's caption names ("Showing the network at step 1,234 (epoch ..."), or null.
STEP_SHOWN_JS = """() => {
    const m = document.body.innerText.match(/Showing the network at step ([\\d,]+)/);
    return m ? parseInt(m[1].replace(/,/g, ''), 10) : null;
}"""

# The <img> under a markdown heading of the live view (its text given), as {src, png}: the src and
# the pixels the browser shows, drawn onto a canvas (same origin, so readable) and sent back as a
# PNG; null until the image has loaded. "What the units look for" sits in its column's block with
# its picture (its dashboard column); "Its guesses" is followed by its picture in the next element.
IMAGE_UNDER_JS = """heading => {
    const md = [...document.querySelectorAll('[data-testid="stMarkdown"]')]
        .find(e => e.innerText.includes(heading));
    if (!md) return null;
    let img = null;
    if (heading.startsWith('What the units')) {
        img = md.closest('[data-testid="stColumn"]').querySelector('[data-testid="stImage"] img');
    } else {
        for (let e = md.closest('[data-testid="stElementContainer"]').nextElementSibling; e && !img;
             e = e.nextElementSibling)
            img = e.querySelector('[data-testid="stImage"] img');
    }
    if (!img || !img.complete || !img.naturalWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.getContext('2d').drawImage(img, 0, 0);
    return {src: img.src, png: canvas.toDataURL('image/png')};
}"""

# What the loss chart (in the dashboard column under its heading "Loss ...") draws of its training curve: the points of its hover layer (one Vega symbol
# per record, labelled "split: training") and whether its training line joins two or more of them
# (a one-point line is "M x,yZ"; two or more points give curve or line segments).
LOSS_CURVE_JS = """() => {
    const heading = [...document.querySelectorAll('[data-testid="stMarkdown"]')]
        .find(e => e.innerText.trim().startsWith('Loss'));
    const chart = heading && heading.closest('[data-testid="stColumn"]')
        .querySelector('[data-testid="stVegaLiteChart"]');
    if (!chart) return {points: 0, line: false};
    const points = chart.querySelectorAll(
        'path[aria-roledescription="point"][aria-label*="split: training"]').length;
    const line = [...chart.querySelectorAll(
        'path[aria-roledescription="line mark"][aria-label*="split: training"]')]
        .some(p => /[CL]/.test(p.getAttribute('d') || ''));
    return {points, line};
}"""


def wait_for_app(page):
    """Until the page's script has finished running (no "Running..." in the status widget)."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=WAIT)


def open_train(page, url, screenshot, name):
    """Open the Train page at ``url`` and wait for it; if it never shows, fail with what it shows
    instead (and a screenshot, artifacts/<name>.png)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    page.goto(url)
    try:
        page.get_by_role("heading", name="Train a network").wait_for(timeout=WAIT)
    except PlaywrightTimeout:
        path = screenshot(name)
        raise AssertionError(f"the Train page did not show within {WAIT / 1000:.0f} s "
                             f"(screenshot {path}); the page shows: "
                             f"{page.inner_text('body')[:1500]!r}") from None
    wait_for_app(page)


def picture(page, heading, timeout=WAIT):
    """(src, RGB pixels as an array) of the picture under ``heading`` once it has loaded."""
    shown = page.wait_for_function(IMAGE_UNDER_JS, arg=heading, timeout=timeout, polling=100)
    value = shown.json_value()
    from PIL import Image
    png = base64.b64decode(value["png"].split(",", 1)[1])
    return value["src"], np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def next_picture(page, heading, src, timeout=WAIT):
    """The picture under ``heading`` once its src is no longer ``src`` (a later refresh)."""
    page.wait_for_function(
        f"([heading, src]) => {{ const v = ({IMAGE_UNDER_JS})(heading); return v && v.src !== src; }}",
        arg=[heading, src], timeout=timeout, polling=100)
    return picture(page, heading, timeout)


def wait_for_loss_curve(page, points, timeout=WAIT):
    """Wait until the loss chart shows a training curve of at least ``points`` points."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(
            f"n => {{ const c = ({LOSS_CURVE_JS})(); return c.points >= n && c.line; }}",
            arg=points, timeout=timeout, polling=200)
    except PlaywrightTimeout:
        drawn = page.evaluate(LOSS_CURVE_JS)
        raise AssertionError(f"the loss chart shows {drawn['points']} training points "
                             f"{'with' if drawn['line'] else 'and no'} line through them after "
                             f"{timeout / 1000:.0f} s; expected a curve of {points} points or "
                             f"more") from None


def differ(a, b):
    """Whether two pictures differ in what they show (size or any pixel)."""
    return a.shape != b.shape or bool(np.abs(a - b).max() > 0)


def start_run(page, hidden, epochs, slowest_learning_rate=False):
    from playwright.sync_api import expect

    set_network(page, hidden, epochs)
    if slowest_learning_rate:
        rate = page.get_by_role("slider", name="Learning rate")
        rate.focus()
        rate.press("Home")                   # the first choice: 1e-05
        expect(rate).to_have_attribute("aria-valuetext", "1e-05", timeout=WAIT)
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Start")).click()


def test_inside_the_network_moves_while_it_learns_and_replays_from_the_start(app_url, page,
                                                                             screenshot):
    open_train(page, f"{app_url}/train", screenshot, "live-view-0-no-train-page")
    start_run(page, "64", 300, slowest_learning_rate=True)

    # the inside appears with the first records: capture both pictures at once
    page.get_by_text("What the units look for", exact=True).first.wait_for(timeout=WAIT)
    units_src, units = picture(page, "What the units look for")
    guesses_src, guesses = picture(page, "Its guesses")
    screenshot("live-view-1-first-inside")

    # a later refresh shows other unit pictures and other guesses
    later_units_src, later_units = next_picture(page, "What the units look for", units_src)
    assert differ(units, later_units), "the unit pictures got a new src but the same pixels"
    later_guesses_src, later_guesses = next_picture(page, "Its guesses", guesses_src)
    assert differ(guesses, later_guesses), "the guesses panel got a new src but the same pixels"

    # after a few seconds the loss curve has many points (records come every 0.3 s or sooner)
    wait_for_loss_curve(page, 20)
    # the settings the test chose are the ones the run uses (the run's name is on each point)
    assert page.locator('path[aria-label*="lr 1e-05"]').count() > 0, \
        "the run on the chart is not the 784-64-10 run at learning rate 1e-05 the test started"
    screenshot("live-view-2-running")

    # end the run: it is kept, and the page says where to go next
    stop = page.get_by_role("button", name=re.compile("Stop"))
    if stop.is_enabled():
        stop.click()
    page.get_by_text("Draw a digit into it").first.wait_for(timeout=WAIT)
    wait_for_app(page)

    # replay: the latest moment first, then the random start
    page.locator(".st-key-train-replay:not([data-stale='true'])").last.get_by_text("Replay").click()
    page.wait_for_function(f"() => ({STEP_SHOWN_JS})() !== null", timeout=WAIT)
    wait_for_app(page)
    last_step = page.evaluate(STEP_SHOWN_JS)
    end_src, end_units = picture(page, "What the units look for")

    moment = page.get_by_role("slider", name="Moment of the run").last
    moment.focus()
    moment.press("Home")                                  # 0%: the random start
    page.wait_for_function(f"last => ({STEP_SHOWN_JS})() < last", arg=last_step, timeout=WAIT,
                           polling=100)
    wait_for_app(page)
    first_step = page.evaluate(STEP_SHOWN_JS)
    assert first_step <= 10, (f"at 0% the replay shows step {first_step:,} (the run ended at step "
                              f"{last_step:,}); the random start is step 0")
    start_src, start_units = next_picture(page, "What the units look for", end_src)
    assert differ(end_units, start_units), "the unit pictures at the start look like the end's"
    screenshot("live-view-3-replay-at-start")


def test_a_diverged_run_says_so_in_red_and_keeps_its_curve(app_url, page, screenshot):
    from playwright.sync_api import expect

    # Home's experiment (now a lesson; the old link still opens it): learning rate 5, plain SGD
    open_train(page, f"{app_url}/train?experiment=diverge", screenshot, "live-view-0-no-lesson")
    expect(page.get_by_role("slider", name="Learning rate")).to_have_attribute(
        "aria-valuetext", "5", timeout=WAIT)
    page.get_by_text("Plan:").first.wait_for(timeout=WAIT)
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Start")).click()

    error = page.get_by_test_id("stAlertContentError").filter(has_text="Training diverged")
    error.first.wait_for(timeout=WAIT)
    wait_for_app(page)
    wait_for_loss_curve(page, 2)            # the records before it blew up, joined by a line
    screenshot("live-view-4-diverged")
