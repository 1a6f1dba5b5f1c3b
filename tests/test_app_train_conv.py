"""The Train page with a conv net, in AppTest: the `convnet` preset from a link, the layer editor
(examples, the error naming the bad part, what the layers make of an image), links that carry conv
layers, and a conv run's inside views (filters, feature maps, the last dense layer's hidden space,
health named per layer), moved by the replay."""
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, open_app, run_until_finished, texts, tiny_run

pytestmark = pytest.mark.timeout(120)

CONVNET = "conv 16x5, pool 2, conv 32x5, pool 2, dense 128"
TINY_CONV = "conv 4x5, pool 2, dense 16"          # trains in a few seconds on the bundled sample


@pytest.fixture(autouse=True)
def app_env(app_models):
    """Offline, st.navigation mode, models in an empty temporary folder (tests/conftest.py)."""
    return app_models


def opened_with(query):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.query_params.update(query)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def test_a_link_with_preset_convnet_opens_the_page_with_that_preset():
    at = opened_with({"preset": "convnet"})
    assert at.selectbox(key="train.preset").value == "convnet"
    assert at.text_input(key="train.hidden").value == CONVNET
    assert at.session_state["train.optimizer"] == "adam"
    captions = texts(at.sidebar.caption)
    assert "conv 16x5: 16 maps 24x24 → pool 2: 16 maps 12x12" in captions, captions
    assert "Plan:** a conv net (conv 16x5" in captions, captions
    assert "Memory:** training this network needs about" in captions
    assert not at.error and not at.button(key="train.start").disabled


def test_the_layer_editor_puts_examples_in_the_box_and_names_the_bad_part():
    at = open_app("pages/train.py")
    at.pills(key="train.layer_example").set_value("one conv layer").run()
    assert at.text_input(key="train.hidden").value == "conv 8x5, pool 2, dense 64"
    assert at.pills(key="train.layer_example").value is None, "let go: it can be clicked again"
    assert "conv 8x5: 8 maps 24x24 → pool 2: 8 maps 12x12 → dense 64 → 10 outputs" in \
        texts(at.sidebar.caption)
    at.text_input(key="train.hidden").set_value("conv 16x5, poo 2, dense 64").run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "“poo 2”" in errors[0], errors          # named, and said once
    assert at.button(key="train.start").disabled
    at.text_input(key="train.hidden").set_value("conv 16x30").run()
    assert "30x30 kernel" in texts(at.error)
    at.pills(key="train.layer_example").set_value("two dense layers").run()
    assert not at.error and "784 pixels → 256 → 128 → 10 outputs" in texts(at.sidebar.caption)
    assert not at.exception


def test_a_shared_link_carries_conv_layers():
    from app.inputs.links import SETTINGS, link_query
    at = open_app("pages/train.py")
    at.text_input(key="train.hidden").set_value("conv 8x3 same, pool 2, dense 32").run()
    settings = {name: at.session_state["train." + name] for name in SETTINGS}
    query = link_query(settings, "mnist")
    other = opened_with(query)
    assert other.text_input(key="train.hidden").value == "conv 8x3 same, pool 2, dense 32"
    assert not other.warning and not other.error


def filter_and_map_pictures(at):
    """The URLs of the filters' and the feature maps' pictures (a new picture, a new URL)."""
    return [image.value[0] for image in at.main.image][:2]


def test_a_conv_run_shows_its_filters_and_feature_maps_and_the_replay_moves_them():
    at = tiny_run(open_app("pages/train.py"), hidden=TINY_CONV)
    at.button(key="train.start").click().run()
    at = run_until_finished(at, timeout=100)
    assert not at.exception and not at.error, texts(at.error)
    views = texts(at.markdown)
    for view in ("The filters", "Feature maps of one image, layer by layer",
                 "Its guesses", "The hidden space", "Layer health"):
        assert view in views, view
    assert "What the units look for" not in views, "an MLP's view, not a conv net's"
    assert "The hidden space** · dense 16" in views, "the last dense layer's"
    assert "Conv 1's 4 filters of 5x5" in texts(at.caption)
    rows = at.session_state["inside_memo"]["views"]["health_rows"]
    assert {r["layer"] for r in rows} == {"conv 1", "dense 1", "output"}, "every layer, conv too"
    latest = filter_and_map_pictures(at)
    assert len(latest) == 2

    at.toggle(key="train.replay").set_value(True).run()
    at.slider(key="train.replay_at").set_value(0).run()
    assert "Showing the network at step 0 " in texts(at.markdown)
    start = filter_and_map_pictures(at)
    assert start[0] != latest[0], "the replay shows the random start's filters"
    assert start[1] != latest[1], "and the feature maps they made"
    at.slider(key="train.replay_at").set_value(100).run()
    assert filter_and_map_pictures(at) == latest, "and back to the trained ones"
    assert not at.exception
