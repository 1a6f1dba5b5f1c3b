"""Hosted mode (NN_HOSTED=1) in two real browsers against one server: visitor A trains and saves
"alpha"; visitor B does not see it (Train's saved models, Inspect's chooser) and cannot reach it
by saving under the same name (B's "alpha" is B's own, A's file is untouched); A reloads and still
has it, and loads it. A screenshot of A's model panel (with its quota line) goes to artifacts/.
"""
import re

import pytest

from tests.browser.conftest import ARTIFACTS, open_expander, served, set_network

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PANEL = "Your models: save, load, delete"


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory):
    """(URL, model folder) of a server in hosted mode, models in a temporary copy of model/."""
    with served(tmp_path_factory, "hosted", {"NN_HOSTED": "1"}) as app:
        yield app


def train(page, hidden):
    """Train a 784-``hidden``-10 network for one epoch on the Train page, to the end."""
    page.get_by_role("heading", name="Train a network").wait_for()
    set_network(page, hidden, 1)
    page.get_by_role("button", name=re.compile("Start")).click()
    page.get_by_test_id("stAlert").filter(has_text="Finished after").wait_for(timeout=120_000)


def visitor(browser, url, path="/train"):
    """A new browser (its own cookies: a new visitor) on ``path``; returns (context, page)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{url}{path}")
    return context, page


def open_panel(page):
    """The Train page's model panel, opened; returns it."""
    page.get_by_role("heading", name="Train a network").wait_for()
    panel = page.get_by_test_id("stExpander").filter(has_text=PANEL)
    open_expander(page, panel.locator("details"), PANEL)
    panel.get_by_role("textbox", name="Save as").wait_for()
    return panel


def saved_files(model_dir, name):
    return sorted(model_dir.glob(f"visitors/*/mnist/{name}.npz"))


def test_a_visitors_saved_model_is_theirs_alone_and_survives_a_reload(browser, hosted_app):
    from playwright.sync_api import expect

    url, model_dir = hosted_app
    a_context, a = visitor(browser, url)
    b_context = None
    try:
        # A trains a tiny network and saves it as "alpha"
        train(a, "16")
        panel = open_panel(a)
        name_box = panel.get_by_role("textbox", name="Save as")
        expect(name_box).to_be_enabled()
        name_box.fill("alpha")
        name_box.press("Enter")
        panel.get_by_role("button", name="Save", exact=True).click()
        a.get_by_text("Saved as “alpha”").wait_for()
        quota = panel.get_by_text(re.compile(r"private to you .*you have used 1 of 10 models"))
        expect(quota).to_be_visible()
        [alpha] = saved_files(model_dir, "alpha")
        written = alpha.read_bytes()
        ARTIFACTS.mkdir(exist_ok=True)
        panel.screenshot(path=str(ARTIFACTS / "hosted-models-panel.png"))

        # B: nothing saved, on Train or on Inspect
        b_context, b = visitor(browser, url)
        b_panel = open_panel(b)
        expect(b_panel.get_by_text("No saved models yet.")).to_be_visible()
        expect(b_panel.get_by_text(re.compile(r"you have used 0 of 10 models"))).to_be_visible()
        assert "alpha" not in b_panel.inner_text()
        b.goto(f"{url}/inspect")
        b.get_by_role("combobox", name="Model").click()
        options = b.get_by_role("option")
        options.first.wait_for()
        shown = options.all_inner_texts()
        assert any("pretrained" in option for option in shown), shown
        assert not any("alpha" in option for option in shown), shown
        b.keyboard.press("Escape")

        # B trains and saves under the same name: B's own "alpha"; A's file is untouched
        b.goto(f"{url}/train")
        train(b, "8")
        b_panel = open_panel(b)
        b_name = b_panel.get_by_role("textbox", name="Save as")
        b_name.fill("alpha")
        b_name.press("Enter")
        b_panel.get_by_role("button", name="Save", exact=True).click()
        b.get_by_text("Saved as “alpha”").wait_for()
        assert len(saved_files(model_dir, "alpha")) == 2, "one space each"
        assert alpha.read_bytes() == written

        # A reloads: "alpha" is still A's, and it loads (A's network, not B's)
        a.reload()
        panel = open_panel(a)
        saved = panel.get_by_role("combobox", name="Saved models")
        expect(saved).to_be_visible()
        panel.get_by_role("button", name="Load", exact=True).click()
        loaded = a.get_by_test_id("stAlert").filter(has_text="Loaded “alpha”")
        expect(loaded).to_contain_text("784-16-10")
    finally:
        for context in (a_context, b_context):
            if context is not None:
                context.close()
