"""Start and stop a training in a real browser; see the chart grow."""
import re

import pytest

from tests.browser.conftest import set_network, wait_for_step_above

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def wait_for_app(page):
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=30_000)


def test_start_watch_and_stop_a_training(app_url, page, screenshot):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    wait_for_app(page)
    set_network(page, "256", 300)
    screenshot("train-1-before-start")

    page.get_by_role("button", name=re.compile("Start")).click()
    first = wait_for_step_above(page, -1)                    # the progress line appears
    wait_for_step_above(page, first)                         # and moves on: the run advances
    # the four live figures and the loss and accuracy charts
    page.get_by_test_id("stMetric").nth(3).wait_for()
    page.get_by_test_id("stVegaLiteChart").nth(1).wait_for()
    screenshot("train-2-running")

    page.get_by_role("button", name=re.compile("Stop")).click()
    done = page.get_by_test_id("stAlert").filter(has_text="Stopped at step")
    expect(done).to_contain_text(re.compile(r"Test accuracy \d+(\.\d+)?%"), timeout=15_000)
    screenshot("train-3-stopped")
