"""Several visitors at once, in real browser sessions against one server.

Two sessions train different networks at the same time and each keeps its own run, chart and
model; a third is told the server is full (the test server's cap is 2 trainings) and waits in
line; when the first visitor closes the tab mid-training, its run ends by itself
(app.runs.job.DISCONNECT_GRACE, 15 s) and the third visitor's run starts by itself.
"""
import re
import time

import pytest

from tests.browser.conftest import open_settings, wait_for_step_above

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

STEP = re.compile(r"Step ([\d,]+) of ([\d,]+)")


def open_train(browser, app_url, hidden):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    open_settings(page, "The network", "Training")
    field = page.get_by_role("textbox", name="Hidden layers")
    field.fill(hidden)
    field.press("Enter")
    epochs = page.get_by_role("spinbutton", name="Epochs")
    epochs.fill("500")
    epochs.press("Enter")
    page.get_by_text(re.compile(rf"784-{hidden}-10 network")).wait_for()
    return context, page


def start(page):
    page.get_by_role("button", name=re.compile("Start")).click()


def stop_and_read_the_model(page):
    page.get_by_role("button", name=re.compile("Stop")).click()
    page.get_by_test_id("stAlert").filter(has_text="Stopped at step").wait_for(timeout=15_000)
    return page.locator("[data-testid='stSidebar']").inner_text()


def test_sessions_keep_their_own_runs_the_cap_holds_and_a_closed_tab_frees_its_slot(browser, app_url):
    first_context, first = open_train(browser, app_url, "16")
    second_context, second = open_train(browser, app_url, "48")
    third_context, third = open_train(browser, app_url, "24")
    try:
        start(first)
        start(second)
        a0, b0 = wait_for_step_above(first, -1), wait_for_step_above(second, -1)
        assert "784-48-10" not in first.inner_text("body")
        assert "784-16-10" not in second.inner_text("body")

        # the third visitor: the server already runs two trainings, so the run waits in line
        start(third)
        third.get_by_text(re.compile(r"You are number 1 in line")).wait_for(timeout=10_000)
        assert third.get_by_text(STEP).count() == 0

        # both runs advance (records slow down when two runs share 2 cores)
        wait_for_step_above(first, a0)
        wait_for_step_above(second, b0)
        for page in (first, second):             # each has its own loss and accuracy charts
            page.locator("[data-testid='stVegaLiteChart']").nth(1).wait_for()
            page.locator("[data-testid='stMetric']").nth(3).wait_for()

        # the first visitor closes the tab mid-training; its run ends by itself, freeing a place
        # for the run waiting in line, which starts without another click
        first_context.close()
        closed = time.monotonic()
        wait_for_step_above(third, -1, timeout=90_000)
        print(f"the waiting run started {time.monotonic() - closed:.1f} s after the tab closed")

        # each remaining session ends up with its own model
        second_sidebar = stop_and_read_the_model(second)
        third_sidebar = stop_and_read_the_model(third)
        assert "784-48-10" in second_sidebar and "784-24-10" not in second_sidebar, second_sidebar
        assert "784-24-10" in third_sidebar and "784-48-10" not in third_sidebar, third_sidebar
    finally:
        for context in (first_context, second_context, third_context):
            try:
                context.close()
            except Exception:
                pass
