"""Shared fixtures for the browser tests: a real `streamlit run` server and a Chromium page.

Without /usr/bin/chromium these tests are skipped, except in CI (env CI set), where they fail.
Screenshots go to artifacts/ (gitignored). The helpers at the end wait for what a user would see,
never for a fixed time: ``from tests.browser.conftest import ...``; the harness they share with
the benchmarks (the server, the Draw page, ``wait_until_drawable``) is tests/helpers/browser.py.
"""
import contextlib
import importlib
import os
import time
from pathlib import Path

import pytest

from tests.helpers import browser as harness
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, ServerError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _require_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install chromium for the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")


@contextlib.contextmanager
def served(tmp_path_factory, name, env=None):
    """The app on a free port (offline, models in a temporary copy of model/, ``env`` added);
    yields (URL, that model folder) and stops the server afterwards (tests/helpers/browser.py's
    ``served``, which fails the test if the server does not start)."""
    _require_chromium()
    try:
        with harness.served(tmp_path_factory.mktemp(name), name, env) as (url, model_dir):
            yield url, model_dir
    except ServerError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The app for the browser tests (at most 2 trainings at once, whatever the cores); its URL."""
    with served(tmp_path_factory, "app", {"NN_MAX_TRAININGS": "2"}) as (url, _):
        yield url


EXPECT_TIMEOUT_MS = 30_000     # Playwright's expect() waits this long (its default, 5 s, is a
                               # timing a busy 2-core machine does not always meet)


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """screenshot("name") saves artifacts/<name>.png and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


# -- waiting for what the user sees -----------------------------------------------------------------
def wait_for_step_above(page, step, timeout=30_000):
    """Wait until the Train page's progress line ("Step 1,234 of 5,000") shows a step > ``step``;
    return the step shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        handle = page.wait_for_function(
            """n => {
                const m = document.body.innerText.match(/Step ([\\d,]+) of/);
                const shown = m ? parseInt(m[1].replace(/,/g, ''), 10) : -1;
                return shown > n ? shown : false;
            }""", arg=step, timeout=timeout, polling=200)
    except PlaywrightTimeout:
        raise AssertionError(f"the page showed no training step after step {step} within "
                             f"{timeout / 1000:.0f} s") from None
    return handle.json_value()


def wait_for_run_to_finish(page, stalled_after=60_000):
    """Wait until the Train page says "Finished after ...", for as long as its progress line keeps
    moving: fail only when the step shown stands still for ``stalled_after`` ms. (A busy machine
    makes a run slower, not wrong: no fixed limit on the whole run.)"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    step = -1
    while True:
        try:
            handle = page.wait_for_function(
                """n => {
                    const text = document.body.innerText;
                    if (text.includes('Finished after')) return 'finished';
                    const m = text.match(/Step ([\\d,]+) of/);
                    const shown = m ? parseInt(m[1].replace(/,/g, ''), 10) : -1;
                    return shown > n ? shown : false;
                }""", arg=step, timeout=stalled_after, polling=500)
        except PlaywrightTimeout:
            raise AssertionError(f"the run stood still at step {step} for "
                                 f"{stalled_after / 1000:.0f} s without finishing") from None
        shown = handle.json_value()
        if shown == "finished":
            return
        step = shown


def wait_for_images(page):
    """Wait until every image on the page has loaded (before a screenshot)."""
    page.wait_for_function("() => [...document.images].every(i => i.complete)")


def wait_until_idle(page, timeout=15_000):
    """Wait (up to ``timeout`` ms, then go on) until no script run is in flight: Streamlit's
    running icon is gone. A run in flight may still redraw what the test is about to touch."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')",
            timeout=timeout, polling=200)
    except PlaywrightTimeout:
        pass


def open_expander(page, group, name):
    """Open the expander whose ``details`` element is the locator ``group``, if not open yet.

    It is open when its content is no longer inert (Streamlit's expander sets ``inert`` the moment
    it closes, before its closing animation ends). On a busy machine a click can miss (the header
    still moving while the expander above it opens) or be undone by a script run redrawing the
    page (CI showed one of the two), so the expander is checked once the page is idle again and
    clicked again if it is still closed."""
    details = group.locator('[data-testid="stExpanderDetails"]')
    for _ in range(6):
        group.wait_for()
        wait_until_idle(page)
        if details.get_attribute("inert") is not None:
            group.locator("summary").click()
            time.sleep(0.8)                           # its opening animation
            wait_until_idle(page)
        if details.get_attribute("inert") is None and details.is_visible():
            return
    raise AssertionError(f"the expander {name!r} did not stay open after 6 clicks")


def open_settings(page, *titles):
    """Open the Train page's groups of settings (collapsible, in the side panel) named ``titles``
    ("The network", "Training"), those not open yet."""
    for title in titles:
        group = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"] details').filter(
            has=page.locator("summary", has_text=title)).first
        open_expander(page, group, title)


def set_network(page, hidden, epochs):
    """Type the Train page's hidden layer sizes and epochs; wait until the plan shows them."""
    import re
    open_settings(page, "The network", "Training")

    from playwright.sync_api import expect
    for box, value in ((page.get_by_role("textbox", name="Hidden layers"), hidden),
                       (page.get_by_role("spinbutton", name="Epochs"), str(epochs))):
        # while the page reruns it may show a control twice (the old one on its way out): wait
        # for one, type into it, and press Enter where the typing is
        expect(box).to_have_count(1)
        box.fill(value)
        page.keyboard.press("Enter")
    sizes = "-".join(["784", *re.findall(r"\d+", hidden), "10"])
    page.get_by_text(re.compile(rf"{sizes} network")).first.wait_for(timeout=120_000)

