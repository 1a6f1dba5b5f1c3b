"""The "why" views (app.why, app.why_views, app.charts' network/pushes/path specs): AppTest of
each view on Draw and Inspect, for every kind of architecture the Train page allows, and the
diagram's data and a unit's arithmetic checked against the model itself."""
import json

import numpy as np
import pytest

from app.render.network_charts import path_spec, pushes_spec
from app.render.why import (
    MAX_UNITS_SHOWN,
    arithmetic_markdown,
    attribution_picture,
    change_summary,
    grey_picture,
    network_diagram,
    parse_key,
    unit_details,
)
from app.views import why as why_view
from app.views.why import _clicked
from core.explain import trace
from core.model import MLP, ModelConfig
from core.modelio import SavedModel
from tests.conftest import metric, needs_model, open_app, texts
from tests.test_app_draw import draw, draw_page

pytestmark = pytest.mark.timeout(120)
DIGITS = [str(d) for d in range(10)]
TABS = ["The network, lighting up", "Which pixels mattered", "What would make it another class",
        "How little fools it"]


@pytest.fixture(autouse=True)
def app_env(shipped_models):
    """Offline, st.navigation mode and a copy of the shipped models (tests/conftest.py)."""
    return shipped_models


def spec_of(chart):
    return json.loads(chart.proto.spec)


def network_chart(at):
    """The diagram among the page's charts (a layer draws the input's black square)."""
    for chart in at.get("vega_lite_chart"):
        layers = spec_of(chart).get("layer") or []
        if any(layer.get("transform") == [{"filter": "datum.kind === 'frame'"}]
               for layer in layers):
            return chart
    return None


def chart_rows(chart):
    import pyarrow as pa
    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()


def open_why(at, tab=None):
    at.session_state["draw_why_open"] = True                    # as a click on the expander
    if tab:
        at.session_state["draw_why_tab"] = tab                  # as a click on the tab
    at.run()
    assert not at.exception, at.exception
    return at


def with_model(at, config, scaling="unit", seed=0):
    """Make a model with fresh weights of ``config`` this session's MNIST model."""
    model = MLP(config, np.random.default_rng(seed))
    saved = SavedModel(model=model, dataset="mnist", scaling=scaling,
                       metrics={"test_accuracy": 0.1})
    at.session_state["user_models"] = {"mnist": (saved, "your test model"), "fashion-mnist": None}
    return at.run()


def headings(at):
    return [m.value for m in at.markdown if m.value.startswith("#### ")]


# -- Draw ------------------------------------------------------------------------------------------
@needs_model
def test_the_why_views_stay_closed_until_asked():
    at = draw(draw_page(), "7")
    assert network_chart(at) is None and len(at.get("vega_lite_chart")) == 1
    at = open_why(draw_page())
    assert "to see why the network guesses" in texts(at.caption), "nothing drawn yet"
    assert network_chart(at) is None


@needs_model
def test_the_network_lights_up_for_a_drawing_and_a_unit_can_be_chosen():
    at = open_why(draw(draw_page(), "7"))
    chart = network_chart(at)
    assert chart is not None
    rows = chart_rows(chart)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("output") == 10 and kinds.count("unit") == 64, "32 of 256, 32 of 128"
    assert "the 32 most active of 256" in texts(at.caption)
    guess = next(r for r in rows if r["kind"] == "output" and r["guess"])
    assert guess["text"].startswith("7") and guess["text"].endswith("%")
    assert "unit" in spec_of(chart)["layer"][3]["params"][0]["name"], "circles can be clicked"
    # the default unit: layer 1's most active, its weighted input written out
    unit = at.selectbox(key="draw_why_unit")
    assert unit.value.startswith("1:")
    assert headings(at)[0].startswith("#### Hidden layer 1, unit ")
    assert "**= z**" in texts(at.markdown) and "relu(z) = activation" in texts(at.markdown)
    assert len(at.get("image")) >= 3, "the drawing, the unit's weights, drawing x weights"
    # another unit, in the second hidden layer
    second = next(r["key"] for r in rows if r["kind"] == "unit" and r["key"].startswith("2:"))
    assert any(option.startswith("Hidden layer 2, unit ") for option in unit.options)
    unit.set_value(second).run()
    assert headings(at)[0].startswith("#### Hidden layer 2, unit ")
    assert "What it looks for around this drawing" in " ".join(
        img.caption for element in at.get("image") for img in element.proto.imgs)
    assert "Pushes up" in texts(at.caption) or "pushes down" in texts(at.caption).lower()
    # an output
    at.selectbox(key="draw_why_unit").set_value("3:7").run()
    assert headings(at)[0] == "#### Output 7"
    assert "into a probability of" in texts(at.markdown)
    # a new drawing keeps the chosen unit and redraws the diagram
    at = draw(at, "1")
    assert not at.exception
    assert at.selectbox(key="draw_why_unit").value == "3:7"
    guess = next(r for r in chart_rows(network_chart(at)) if r["kind"] == "output" and r["guess"])
    assert guess["text"].startswith("1")


def test_a_click_on_a_circle_chooses_its_unit(monkeypatch):
    state = {"draw_why_network": {"selection": {"unit": [{"key": "2:17"}]}}, "draw_why_unit": "1:0"}
    monkeypatch.setattr(why_view.st, "session_state", state)
    _clicked("draw_why_network", "draw_why_unit")
    assert state["draw_why_unit"] == "2:17"
    state["draw_why_network"] = {"selection": {"unit": []}}          # a click beside the circles
    _clicked("draw_why_network", "draw_why_unit")
    assert state["draw_why_unit"] == "2:17", "keeps the unit"


@needs_model
def test_which_pixels_mattered_for_the_guess_and_any_class():
    at = open_why(draw(draw_page(), "7"), "Which pixels mattered")
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert "Towards 7: red pushed up, blue pushed down" in captions
    assert DIGITS == captions[-10:], "every class at a glance"
    at.selectbox(key="draw_why_class").set_value(3).run()
    at.segmented_control(key="draw_why_method").set_value("gradient").run()
    assert not at.exception
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert "Towards 3: red pushed up, blue pushed down" in captions
    assert "Where would more ink change the score of 3?" in texts(at.markdown)


@needs_model
def test_what_would_make_it_another_class():
    at = open_why(draw(draw_page(), "7"), "What would make it another class")
    target = at.selectbox(key="draw_why_target")
    assert target.value != 7, "the runner-up by default, not the guess"
    at.selectbox(key="draw_why_target").set_value(3).run()
    text = texts(at.markdown)
    assert "uphill on the probability of 3" in text and "pixels** by more than 0.1" in text
    path = [spec_of(c) for c in at.get("vega_lite_chart")
            if spec_of(c).get("encoding", {}).get("x", {}).get("title") == "step"]
    assert len(path) == 1, "the probability path"
    at.toggle(key="draw_why_pen").set_value(True).run()
    assert not at.exception and "uphill on the probability of 3" in texts(at.markdown)


@needs_model
def test_how_little_fools_it():
    at = open_why(draw(draw_page(), "7"), "How little fools it")
    assert at.warning and "Fooled" in at.warning[0].value, "a faint nudge fools a confident 7"
    assert "turns **7" in at.warning[0].value
    at.segmented_control(key="draw_why_kind").set_value("pixels").run()
    assert at.warning and "pixel" in at.warning[0].value
    at.slider(key="draw_why_pixels").set_value(1).run()
    assert not at.exception
    assert (at.warning and "Fooled" in at.warning[0].value) or "Not fooled" in texts(at.info)


@needs_model
def test_a_test_image_can_be_explained_too():
    at = draw_page()
    next(b for b in at.button if b.label == "Test image").click().run()
    at = open_why(at)
    assert network_chart(at) is not None
    assert metric(at, "Prediction") is not None


ARCHITECTURES = [
    pytest.param(ModelConfig(hidden_sizes=()), "unit", id="no hidden layer"),
    pytest.param(ModelConfig(hidden_sizes=(4096,)), "unit", id="4096 units"),
    pytest.param(ModelConfig(hidden_sizes=(20, 16, 12, 10, 8, 6), activation="sigmoid",
                             output_activation="sigmoid", loss="mse"), "unit",
                 id="six sigmoid layers, sigmoid output"),
    pytest.param(ModelConfig(hidden_sizes=(40, 33), activation="tanh"), "symmetric",
                 id="tanh, symmetric scaling"),
    pytest.param(ModelConfig(hidden_sizes=(50,), activation="leaky_relu", dropout=0.5), "unit",
                 id="leaky ReLU with dropout"),
]


@pytest.mark.parametrize("config, scaling", ARCHITECTURES)
def test_every_view_works_for_every_architecture(config, scaling):
    at = with_model(draw(draw_page(), "0"), config, scaling)
    at = open_why(at)
    rows = chart_rows(network_chart(at))
    hidden = config.hidden_sizes
    for column, size in enumerate(hidden, start=1):
        drawn = [r for r in rows if r["kind"] == "unit" and r["key"].startswith(f"{column}:")]
        assert len(drawn) == min(size, MAX_UNITS_SHOWN)
    assert sum(r["kind"] == "output" for r in rows) == 10
    titles = [r["text"] for r in rows if r["kind"] == "title"]
    assert len(titles) == len(hidden) + 2, titles
    if not hidden:
        assert headings(at)[0] == f"#### Output {metric(at, 'Prediction')}"
        assert "pixel (row, column)" in texts(at.markdown)
    else:
        assert headings(at)[0].startswith("#### Hidden layer 1, unit")
        if scaling == "symmetric":
            assert "2 × pixel − 1" in texts(at.markdown), "what the first layer reads"
        last = next(r["key"] for r in rows
                    if r["kind"] == "unit" and r["key"].startswith(f"{len(hidden)}:"))
        at.selectbox(key="draw_why_unit").set_value(last)
        at.run()
        assert not at.exception, at.exception
    for tab in TABS[1:]:
        at.session_state["draw_why_tab"] = tab
        at.run()
        assert not at.exception, (tab, at.exception)


# -- Inspect ---------------------------------------------------------------------------------------
@needs_model
def test_inspect_shows_the_network_for_a_test_image_and_the_drawing():
    at = open_app("pages/inspect.py")
    at.session_state["inspect_tab"] = "The network, lighting up"
    at.run()
    assert not at.exception, at.exception
    assert network_chart(at) is not None
    assert at.selectbox(key="inspect_why_unit").value.startswith("1:")
    assert "Which pixels mattered" in texts(at.subheader)
    at.slider(key="inspect_index").set_value(3).run()
    assert "Test image #3" in texts(at.markdown)
    at.segmented_control(key="inspect_source").set_value("Your drawing").run()
    assert "not drawn anything" in at.info[0].value
    drawing = np.zeros((28, 28), np.float32)
    drawing[4:24, 13:16] = 1.0
    at.session_state["drawing_pixels"] = drawing.ravel()
    at.run()
    assert not at.exception and network_chart(at) is not None
    assert "**Your drawing**: the model says **1**" in texts(at.markdown)


@needs_model
def test_inspect_dreams_a_picture_for_every_class_once_per_model():
    at = open_app("pages/inspect.py")
    at.session_state["inspect_tab"] = "Class dreams"
    at.run()
    assert not at.exception, at.exception
    images = [img for element in at.get("image") for img in element.proto.imgs]
    assert [img.caption.split(" ")[0] for img in images] == DIGITS, "a row of ten"
    sure = [int(img.caption.split("(")[1].rstrip("%)")) for img in images]
    assert min(sure) >= 50, f"each dream is read as its class: {sure}"
    assert "started as the average of its class's training images" in texts(at.caption)
    assert min(sure) >= 80, f"readable dreams are sure of their class: {sure}"
    at.segmented_control(key="inspect_why_dreams").set_value("raw").run()
    assert not at.exception and "Without rules" in texts(at.caption)


# -- the data and the arithmetic -------------------------------------------------------------------
@pytest.mark.parametrize("activation, output, loss, scaling", [
    ("relu", "softmax", "cross_entropy", "unit"), ("tanh", "sigmoid", "mse", "symmetric"),
    ("leaky_relu", "softmax", "mse", "unit"), ("sigmoid", "softmax", "cross_entropy", "unit")])
def test_a_units_arithmetic_adds_up_to_what_the_model_computes(activation, output, loss, scaling):
    config = ModelConfig(hidden_sizes=(40, 20), activation=activation, output_activation=output,
                         loss=loss)
    model = MLP(config, np.random.default_rng(1))
    pixels = np.random.default_rng(2).random(784).astype(np.float32)
    tr = trace(model, pixels, scaling)
    hidden = model.hidden_activations(tr.inputs[0])
    shown = model.predict_proba(tr.inputs[0])[0]
    for key in ["1:5", "2:19", "3:4"]:
        details = unit_details(model, tr, key, DIGITS, scaling)
        terms = sum(t.contribution for t in details.terms) + details.others_sum
        assert terms == pytest.approx(details.total, abs=1e-9)
        assert details.total + details.bias == pytest.approx(details.z, rel=1e-4, abs=1e-4)
        column, unit = parse_key(key, config.layer_sizes)
        expected = shown[unit] if details.is_output else hidden[column - 1][0, unit]
        assert details.activation == pytest.approx(float(expected), rel=1e-5)
        contributions = [abs(t.contribution) for t in details.terms]
        assert contributions == sorted(contributions, reverse=True)
        assert details.others == 784 - len(details.terms) if column == 1 else True
        table = arithmetic_markdown(details, scaling)
        assert table.count("\n|") >= len(details.terms) + 4
    assert unit_details(model, tr, "1:5", DIGITS, scaling).picture_is_weights
    assert unit_details(model, tr, "3:4", DIGITS, scaling).pushes is None


def test_the_diagram_shows_at_most_32_units_per_layer_and_the_chosen_one():
    model = MLP(ModelConfig(hidden_sizes=(300, 10)), np.random.default_rng(3))
    pixels = np.zeros(784, np.float32)
    pixels[300:500] = 1.0
    diagram = network_diagram(model, pixels, "unit", DIGITS)
    first = [r for r in diagram.rows if r["kind"] == "unit" and r["key"].startswith("1:")]
    assert len(first) == 32 and "the 32 most active of 300" in diagram.note
    activations = model.hidden_activations(pixels)[0][0]
    drawn = {int(r["key"].split(":")[1]) for r in first}
    assert min(activations[list(drawn)]) >= np.sort(activations)[-32] - 1e-6, "the most active"
    quiet = int(np.argmin(activations))
    chosen = network_diagram(model, pixels, "unit", DIGITS, selected=f"1:{quiet}")
    keys = [r["key"] for r in chosen.rows if r.get("key")]
    assert f"1:{quiet}" in keys and len([k for k in keys if k.startswith("1:")]) == 32
    assert [r for r in chosen.rows if r.get("selected")][0]["key"] == f"1:{quiet}"
    # edges: at most 3 from the pixels into each unit, 4 between layers, all finite
    edges = [r for r in diagram.rows if r["kind"] == "edge"]
    assert 0 < len(edges) <= 32 * 3 + 10 * 4 + 10 * 4
    json.dumps(diagram.rows, allow_nan=False)
    assert set(chosen.units) == set(keys), "the selector offers exactly the units drawn"
    assert parse_key("9:0", model.config.layer_sizes) is None
    assert parse_key("1:300", model.config.layer_sizes) is None
    assert parse_key("junk", model.config.layer_sizes) is None


def test_pictures_are_red_for_a_push_up_and_blue_for_a_push_down():
    pixels = np.zeros(784)
    pixels[:2] = 1.0
    attribution = np.zeros(784)
    attribution[0], attribution[1] = 1.0, -1.0
    picture = attribution_picture(pixels, attribution, scale=1)
    assert picture.shape == (30, 30, 3)                          # with a 1-pixel frame
    red, blue, blank = picture[1, 1], picture[1, 2], picture[10, 10]
    assert red[0] > red[2] and blue[2] > blue[0] and tuple(blank) == (255, 255, 255)
    assert grey_picture(pixels, 2).shape == (56, 56, 3)
    count, mean, largest = change_summary(np.array([0.5, -0.2, 0.05]), 0.1)
    assert (count, round(mean, 3), largest) == (2, 0.35, 0.5)


def test_the_new_specs_carry_every_value_and_no_nan():
    spec = pushes_spec(np.array([0.5, -0.2, np.nan] + [0.0] * 7), DIGITS)
    assert [v["class"] for v in spec["data"]["values"]] == ["0", "1"] + DIGITS[3:]
    path = path_spec(np.full((3, 10), 0.1), DIGITS, target=3, guess=7)
    roles = {v["class"]: v["role"] for v in path["data"]["values"]}
    assert roles["3"] == "target" and roles["7"] == "guess" and roles["0"] == "other"
    assert len(path["data"]["values"]) == 30
    json.dumps([spec, path], allow_nan=False)
