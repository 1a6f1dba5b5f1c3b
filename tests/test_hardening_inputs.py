"""Issue 16, finding 7: what a visitor types never shows a traceback or the server's paths.

Typed-in settings are parsed with ASCII digits only ("²".isdigit() is True in Python, and
int("²") then raised a ValueError that reached the page with its traceback); Streamlit's error
details are off for visitors (.streamlit/config.toml); upload limits agree with the model files'.
"""
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.options import parse_batch_size, parse_hidden_sizes
from tests.conftest import ROOT, open_app, texts

CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


@pytest.mark.parametrize("text", ["²", "2²", "256, ²", "٣", "１２８", "128x²", "𝟗",
                                  pytest.param("9" * 5000, id="5000 nines"),
                                  pytest.param("1" * 250 + ", 2", id="250 ones")])
def test_hidden_sizes_with_other_digits_or_absurd_lengths_are_a_config_error(text):
    with pytest.raises(ConfigError):
        parse_hidden_sizes(text)


@pytest.mark.parametrize("text", ["²", "1²8", "٣٢", "１２８",
                                  pytest.param("9" * 5000, id="5000 nines")])
def test_batch_sizes_with_other_digits_or_absurd_lengths_are_a_config_error(text):
    with pytest.raises(ConfigError):
        parse_batch_size(text)


def test_plain_digits_still_parse():
    assert parse_hidden_sizes(" 256, 128 ") == (256, 128)
    assert parse_hidden_sizes("0016x8") == (16, 8)
    assert parse_batch_size("0128") == 128
    with pytest.raises(ConfigError, match="1 to 4,096 units"):
        parse_hidden_sizes("99999999")                 # a number, too large: says the range


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_hidden_sizes_or_a_config_error(text):
    try:
        sizes = parse_hidden_sizes(text)
    except ConfigError as e:
        assert str(e)
    else:
        assert all(isinstance(s, int) and s >= 1 for s in sizes)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_text_is_a_batch_size_or_a_config_error(text):
    try:
        batch = parse_batch_size(text)
    except ConfigError as e:
        assert str(e)
    else:
        assert batch is None or (isinstance(batch, int) and batch >= 1)


def test_visitors_see_no_error_details():
    import streamlit.config as config
    config.get_config_options()
    option = config._config_options["client.showErrorDetails"]
    assert CONFIG["client"]["showErrorDetails"] == "none"
    assert '"none"' in option.description                 # a value Streamlit 1.67 knows


def test_an_unexpected_exception_shows_neither_its_message_nor_a_path(tmp_path):
    from streamlit.testing.v1 import AppTest
    script = tmp_path / "boom.py"
    script.write_text("raise ValueError('secret ' + __file__)\n")
    at = AppTest.from_file(str(script)).run()
    assert at.exception
    shown = " ".join(str(e.message) + " ".join(getattr(e, "stack_trace", []) or [])
                     for e in at.exception)
    assert "secret" not in shown and str(tmp_path) not in shown and "ValueError" not in shown


def test_the_upload_limit_is_the_model_file_limit():
    from app.inputs.pictures import MAX_UPLOAD_BYTES
    from core.modelio import MAX_FILE_BYTES
    assert CONFIG["server"]["maxUploadSize"] * 2**20 == MAX_FILE_BYTES   # Streamlit's MB are MiB
    assert MAX_UPLOAD_BYTES <= MAX_FILE_BYTES


@pytest.mark.timeout(90)
def test_typing_a_superscript_in_hidden_sizes_shows_an_error_not_a_traceback(app_models):
    at = open_app("pages/train.py")
    for text in ("²", "2²"):
        at.text_input(key="train.hidden").set_value(text).run()
        assert not at.exception, at.exception
        assert "is not one" in texts(at.error), texts(at.error)
