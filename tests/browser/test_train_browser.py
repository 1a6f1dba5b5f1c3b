"""Start and stop a training in a real browser; see the chart grow."""
import re
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def wait_for_app(page):
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=30_000)


def chart_points(page):
    """Points drawn in the loss chart (Vega renders SVG paths or canvas; count via its view)."""
    return page.evaluate("""() => {
        const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
        return charts.length;
    }""")


def test_start_watch_and_stop_a_training(app_url, page, screenshot):
    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    wait_for_app(page)
    hidden = page.get_by_role("textbox", name="Hidden layer sizes")
    hidden.fill("256")
    hidden.press("Enter")
    epochs = page.get_by_role("spinbutton", name="Epochs")
    epochs.fill("300")
    epochs.press("Enter")
    page.get_by_text(re.compile(r"784-256-10 network")).wait_for()
    screenshot("train-1-before-start")

    page.get_by_role("button", name=re.compile("Start")).click()
    progress = page.get_by_text(re.compile(r"Step [\d,]+ of [\d,]+"))
    progress.first.wait_for(timeout=30_000)
    first = page.get_by_text(re.compile(r"Step [\d,]+ of")).first.inner_text()
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
    time.sleep(2.0)
    later = page.get_by_text(re.compile(r"Step [\d,]+ of")).first.inner_text()
    step = lambda text: int(re.search(r"Step ([\d,]+)", text).group(1).replace(",", ""))
    assert step(later) > step(first), f"the run did not advance: {first!r} -> {later!r}"
    assert page.locator("[data-testid='stMetric']").count() >= 4
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= 2
    screenshot("train-2-running")

    page.get_by_role("button", name=re.compile("Stop")).click()
    page.get_by_text(re.compile(r"Stopped at step")).wait_for(timeout=10_000)
    screenshot("train-3-stopped")
    assert page.get_by_text("Test accuracy").count() >= 1
