"""The frame and the Home page in AppTest."""
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, open_app, texts

# Offline, st.navigation mode, no shipped model (tests/conftest.py)
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("app_models")]


def test_home_explains_shows_samples_and_suggests_experiments():
    at = open_app()
    assert "learn" in at.title[0].value
    links = [p.label for p in at.get("page_link")]
    assert any("diverge" in label for label in links)
    assert any("784-10-10" in label for label in links)
    assert any("Fashion" in label for label in links)
    assert len(at.get("image")) == 10, "one column of samples per class"
    assert "bundled sample" in texts(at.caption)
    # no shipped model in this folder: the sidebar and the page say so instead of failing
    assert "train one" in texts(at.sidebar.caption)


def test_dataset_selector_is_shared_and_fashion_names_show():
    at = open_app(dataset="fashion-mnist")
    assert "Fashion-MNIST" in at.subheader[-1].value
    at.switch_page("pages/train.py").run()
    assert at.radio(key="train.dataset").value == "fashion-mnist"
    at.radio(key="train.dataset").set_value("mnist").run()
    assert at.session_state["dataset"] == "mnist"
    assert at.sidebar.selectbox(key="dataset").value == "mnist"


def test_dataset_link_parameter_selects_the_dataset():
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["dataset"] == "fashion-mnist"
    assert at.sidebar.selectbox(key="dataset").value == "fashion-mnist"
