"""Conv nets on Draw and Inspect (AppTest): the shipped conv net's guess beside the MLP's and the
switch between them, the feature maps layer by layer as you draw (a map's arithmetic on a click),
saliency, counterfactual and nudge with a conv model, and Inspect's tabs for a conv model."""
import json
import shutil

import pytest

from app.render.feature_maps import parse_map_key
from tests.conftest import ROOT, metric, open_app, texts
from tests.test_app_draw import draw, draw_page

pytestmark = pytest.mark.timeout(180)
TABS = ["The network, lighting up", "Which pixels mattered", "What would make it another class",
        "How little fools it"]
CONVNET = ROOT / "model" / "mnist" / "convnet.npz"
needs_convnet = pytest.mark.skipif(not CONVNET.exists(), reason="model/mnist/convnet.npz missing")


@pytest.fixture(autouse=True)
def app_env(shipped_models):
    """The shipped models, the conv net among them."""
    if CONVNET.exists():
        (shipped_models / "mnist").mkdir(parents=True, exist_ok=True)
        shutil.copy2(CONVNET, shipped_models / "mnist" / "convnet.npz")
    return shipped_models


def use_convnet(at):
    button = next(b for b in at.button if b.key == "draw_use_convnet")
    button.click().run()
    assert not at.exception, at.exception
    return at


def maps_chart(at):
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if any(layer.get("mark", {}).get("type") == "image" for layer in spec.get("layer", [])):
            return chart
    return None


def chart_rows(chart):
    import pyarrow as pa
    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()


@needs_convnet
def test_the_conv_nets_guess_is_beside_the_mlps_and_can_be_used():
    at = draw(draw_page(), "7")
    assert metric(at, "The conv net says").startswith("7 ·")
    assert "Beside it, for comparison: the pretrained conv net" in texts(at.markdown)
    at = use_convnet(at)
    at = draw(at, "7")
    assert "In use: the pretrained conv net" in texts(at.markdown)
    assert metric(at, "The pretrained model says").startswith("7 ·"), "the MLP beside it"
    assert "conv 16x5" in texts(at.caption)
    next(b for b in at.button if b.key == "draw_use_pretrained").click().run()
    assert metric(at, "The conv net says") is not None, "back to the MLP, the conv net beside"


@needs_convnet
def test_draw_shows_the_feature_maps_layer_by_layer_and_a_maps_arithmetic():
    at = use_convnet(draw(draw_page(), "7"))
    at.session_state["draw_why_open"] = True
    at = draw(at, "7")
    assert not at.exception, at.exception
    rows = chart_rows(maps_chart(at))
    titles = [r["text"] for r in rows if r["kind"] == "title"]
    assert titles[0].startswith("Conv 1: 16 filters 5x5") and titles[1].startswith("Pool 1")
    assert titles[2].startswith("Conv 2: 32 filters") and titles[4].startswith("Dense 1: 128 units")
    assert sum(r["kind"] == "map" for r in rows) == 16 + 16 + 32 + 32
    guess = next(r for r in rows if r["kind"] == "output" and r["guess"])
    assert guess["text"] == "7"
    picker = at.selectbox(key="draw_why_map")
    assert picker.value.startswith("0:")
    assert "pixel (row, column)" in texts(at.markdown) and "**= z**" in texts(at.markdown)
    for key, words in [("1:3", "Max pooling"), ("2:5", "input map"), ("3:7", "Max pooling")]:
        at.selectbox(key="draw_why_map").set_value(key).run()
        assert not at.exception, at.exception
        assert words in texts(at.markdown), key
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert "What it responds to here" in captions
    at = draw(at, "1")                                   # a new stroke: the maps follow it
    assert at.selectbox(key="draw_why_map").value == "3:7", "keeps the map chosen"
    guess = next(r for r in chart_rows(maps_chart(at)) if r["kind"] == "output" and r["guess"])
    assert guess["text"] == "1"


def test_a_click_on_a_map_chooses_it(monkeypatch):
    from app.views import conv
    state = {"draw_why_maps": {"selection": {"map": [{"key": "2:17"}]}}, "draw_why_map": "0:0"}
    monkeypatch.setattr(conv.st, "session_state", state)
    conv._clicked("draw_why_maps", "draw_why_map")
    assert state["draw_why_map"] == "2:17"
    state["draw_why_maps"] = {"selection": {"map": []}}
    conv._clicked("draw_why_maps", "draw_why_map")
    assert state["draw_why_map"] == "2:17"
    assert parse_map_key("9:0", []) is None


@needs_convnet
@pytest.mark.parametrize("tab", TABS[1:])
def test_saliency_counterfactual_and_nudge_work_for_a_conv_model(tab):
    at = use_convnet(draw(draw_page(), "7"))
    at.session_state["draw_why_open"] = True
    at.session_state["draw_why_tab"] = tab
    at = draw(at, "7")
    assert not at.exception, at.exception
    text = texts(at.markdown) + texts(at.warning) + texts(at.info)
    assert {"Which pixels mattered": "pushed the score of 7 up",
            "What would make it another class": "uphill on the probability of",
            "How little fools it": "fool"}[tab] in text.lower() if tab == "How little fools it" \
        else {"Which pixels mattered": "pushed the score of 7 up",
              "What would make it another class": "uphill on the probability of"}[tab] in text


# -- Inspect ----------------------------------------------------------------------------------------
INSPECT_TABS = ["Accuracy", "Mistakes", "Activations", "The network, lighting up",
                "What units look for", "Class dreams", "MLP vs conv net", "Training curves"]


def inspect_convnet():
    at = use_convnet(draw(draw_page(), "7"))
    at.switch_page("pages/inspect.py").run()
    assert not at.exception, at.exception
    assert "conv 16x5" in texts(at.metric) or any("conv 16x5" in str(m.value) for m in at.metric)
    return at


@needs_convnet
@pytest.mark.parametrize("tab", INSPECT_TABS)
def test_every_inspect_tab_works_for_the_conv_net(tab):
    at = inspect_convnet()
    at.session_state["inspect_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    if tab == "Activations":
        assert "Pool 2: the largest of each 2x2 → 32 maps 4x4" in texts(at.markdown)
    if tab == "What units look for":
        assert "**Conv 1: 16 filters of 1x5x5 weights**" in texts(at.markdown)
        assert "1·0" in captions
    if tab == "The network, lighting up":
        assert maps_chart(at) is not None
    if tab == "Class dreams":
        assert len([c for c in captions if "%" in c]) == 10
    if tab == "MLP vs conv net":
        assert metric(at, "Both right") is not None and metric(at, "Only the MLP wrong") is not None
        assert "Only the conv net is wrong" in texts(at.markdown)
    if tab == "Your drawing":
        pass


@needs_convnet
def test_inspect_compares_the_mlp_with_the_conv_net():
    at = open_app("pages/inspect.py")
    at.session_state["inspect_tab"] = "MLP vs conv net"
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Only the conv net wrong") is not None
    assert "the pretrained conv net" in texts(at.caption)


def test_home_has_a_conv_net_lesson_that_opens_draw():
    at = open_app()
    assert "An MLP and a conv net, side by side" in texts(at.markdown)
    at.button(key="home_lesson_convnet").click().run()
    assert not at.exception, at.exception
    assert any(t.value == "Draw" for t in at.title)
