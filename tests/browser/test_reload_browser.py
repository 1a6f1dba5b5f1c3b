"""Reloading the tab during a run: the run, its curves and the settings are still there, and the
run goes on to its end (app.visitor)."""
import re

import pytest

from tests.browser.conftest import (
    open_settings,
    set_network,
    wait_for_run_to_finish,
    wait_for_step_above,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]   # a ceiling, not a wait


def test_a_reload_finds_the_run_going_on_and_it_finishes(app_url, page, screenshot):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    set_network(page, "256", 20)
    page.get_by_role("button", name=re.compile("Start")).click()
    before = wait_for_step_above(page, 0)

    page.reload()
    page.get_by_role("heading", name="Train a network").wait_for()
    # the same run: further on, or (on a fast machine) already finished
    page.wait_for_function(
        """n => {
            const text = document.body.innerText;
            const m = text.match(/Step ([\\d,]+) of/);
            return (m && parseInt(m[1].replace(/,/g, ''), 10) > n) || text.includes('Finished after');
        }""", arg=before, timeout=60_000, polling=200)
    open_settings(page, "The network")          # the settings' groups start closed after a reload
    expect(page.get_by_role("textbox", name="Hidden layers")).to_have_value("256")
    page.get_by_test_id("stVegaLiteChart").nth(1).wait_for()  # its curves
    screenshot("reload-1-run-goes-on")
    wait_for_run_to_finish(page)              # however long a busy machine takes, while it moves
    done = page.get_by_test_id("stAlert").filter(has_text="Finished after")
    expect(done).to_contain_text("Test accuracy", timeout=60_000)
    screenshot("reload-2-finished")
