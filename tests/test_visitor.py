"""A reload (a new session of the same browser) finds the visitor's work again (app.visitor)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import visitor
from app.train_form import FORM_KEYS, preset_settings

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def app_env(app_models):
    return app_models


def open_app(monkeypatch, cookies):
    monkeypatch.setattr(visitor, "request_cookies", lambda: dict(cookies))
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    return at


def test_a_reload_finds_the_run_its_curves_settings_and_model(monkeypatch):
    at = open_app(monkeypatch, {})
    token = at.session_state["visitor"]
    assert visitor.TOKEN.fullmatch(token) and at.session_state["visitor_cookie"]
    at.switch_page("pages/train.py").run()
    at.text_input(key="train.hidden").set_value("24")
    at.number_input(key="train.epochs").set_value(1)
    at.number_input(key="train.validation_size").set_value(1000).run()
    at.button(key="train.start").click().run()
    trainer = at.session_state["trainer"]
    assert trainer.join(60)
    at.run()
    model = at.session_state["user_models"]["mnist"]
    assert model is not None

    again = open_app(monkeypatch, {visitor.COOKIE: token})          # the same browser, reloaded
    assert again.session_state["visitor"] == token and not again.session_state["visitor_cookie"]
    assert again.session_state["trainer"] is trainer, "the run"
    assert again.session_state["runs"] == at.session_state["runs"], "its curves"
    assert again.session_state["user_models"]["mnist"] is model, "its model"
    again.switch_page("pages/train.py").run()
    assert again.text_input(key="train.hidden").value == "24", "the settings"
    assert "Test accuracy" in " ".join(e.value for e in again.success)
    assert not again.exception


def test_another_browser_or_a_forged_cookie_starts_afresh(monkeypatch):
    first = open_app(monkeypatch, {})
    first.session_state["drawing_dataset"] = "mnist"
    other = open_app(monkeypatch, {visitor.COOKIE: "not a token; path=/"})
    assert other.session_state["visitor"] != first.session_state["visitor"]
    assert other.session_state["drawing_dataset"] is None
    assert other.session_state["visitor_cookie"], "a new token to store"


def test_the_cookie_script_only_ever_holds_a_token():
    assert visitor.COOKIE in visitor.cookie_script("a" * 22)
    with pytest.raises(ValueError):
        visitor.cookie_script("x'; alert(1); '")


def test_every_setting_of_the_form_is_kept():
    assert set(FORM_KEYS) == {"train." + name for name in preset_settings("recommended", 1000)}
