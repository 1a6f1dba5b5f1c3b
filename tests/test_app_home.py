"""The frame and the Home page in AppTest."""
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, open_app, texts

# Offline, st.navigation mode, no shipped model (tests/conftest.py)
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("app_models")]


def test_home_explains_shows_samples_and_suggests_experiments():
    at = open_app()
    assert "learn" in at.title[0].value
    cards = texts(at.markdown)
    assert "steps are too big" in cards and "Ten units" in cards and "Fashion" in cards
    assert "Question" in texts(at.caption)
    assert len(at.get("image")) == 10, "one column of samples per class"
    assert "bundled sample" in texts(at.caption)
    # no shipped model in this folder: the sidebar and the page say so instead of failing
    assert "train one" in texts(at.sidebar.caption)


def test_dataset_selector_is_shared_and_fashion_names_show():
    at = open_app(dataset="fashion-mnist")
    assert "Fashion-MNIST" in at.subheader[-1].value
    at.switch_page("pages/train.py").run()
    # Train's settings sit under the sidebar's one dataset selector (no second one of its own)
    assert at.sidebar.selectbox(key="dataset").value == "fashion-mnist"
    assert "Fashion-MNIST" in texts(at.sidebar.caption)
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    assert at.session_state["dataset"] == "mnist"
    assert "MNIST from" in texts(at.sidebar.caption)


def test_dataset_link_parameter_selects_the_dataset():
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["dataset"] == "fashion-mnist"
    assert at.sidebar.selectbox(key="dataset").value == "fashion-mnist"


def test_a_lesson_button_opens_the_train_page_set_up_for_it():
    at = open_app()
    at.button(key="home_lesson_diverge").click().run()
    assert not at.exception
    assert at.select_slider(key="train.learning_rate").value == 5.0
    assert "Lesson: When the steps are too big" in texts(at.markdown)
