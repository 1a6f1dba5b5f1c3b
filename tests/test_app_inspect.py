"""The Inspect page in AppTest, and its image helpers (its charts: tests/test_charts.py).

The model under test is a tiny one trained here in a second on the bundled sample, saved into a
temporary model folder as the "shipped" model, so these tests do not depend on model/ being built.
"""
import json

import numpy as np
import pytest

from app.render.images import diverging_rgb, weight_images
from core.datasets import load_dataset, make_splits
from core.model import ModelConfig
from core.modelio import SavedModel, save_model
from core.training import TrainConfig, train
from tests.conftest import metric, open_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def tiny_model():
    """A 784-80-10 network, 1 epoch on the bundled MNIST sample (about 90% on its test set)."""
    raw = load_dataset("mnist", data_dir=None, download=False)
    splits = make_splits(raw, 1000, "unit", np.random.default_rng(0))
    config = TrainConfig(learning_rate=0.005, epochs=1, batch_size=128, optimizer="adam",
                         validation_size=1000)
    model, records = train(ModelConfig(hidden_sizes=(80,)), splits, config)
    return SavedModel(model, "mnist", "unit", config.to_dict(), [r.to_dict() for r in records],
                      {"test_accuracy": model.evaluate(splits.X_test, splits.y_test)[1]})


@pytest.fixture(autouse=True)
def app_env(monkeypatch, app_models, tiny_model):
    """Offline, st.navigation mode (tests/conftest.py), and a model folder with the tiny model as
    the pretrained MNIST model."""
    monkeypatch.delenv("NN_DATA_DIR", raising=False)           # the bundled sample: fast
    save_model(app_models / "mnist" / "pretrained.npz", tiny_model)
    return app_models


def inspect_page(tab=None, dataset="mnist"):
    at = open_app("pages/inspect.py", dataset)
    if tab:
        at.session_state["inspect_tab"] = tab           # as a click on the tab does
        at.run()
        assert not at.exception, at.exception
    return at


def chart_specs(at):
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def test_accuracy_and_confusion_matrix():
    at = inspect_page()
    accuracy = float(metric(at, "Test accuracy").rstrip("%")) / 100
    assert 0.8 < accuracy <= 1.0
    mistakes = int(metric(at, "Mistakes").replace(",", ""))
    assert mistakes == round((1 - accuracy) * 2000)              # the bundled sample's 2,000
    assert metric(at, "Hidden layers") == "80"
    specs = chart_specs(at)
    heat_maps = [s for s in specs if s.get("encoding", {}).get("x", {}).get("title") == "predicted"]
    assert len(heat_maps) == 1, "the confusion matrix"
    assert heat_maps[0]["encoding"]["y"]["title"] == "true"
    assert any(layer["mark"]["type"] == "text" for layer in heat_maps[0]["layer"]), "counts in cells"
    assert len(specs) == 2, "and the per-class accuracy"
    assert "Hardest class" in at.info[0].value


def test_mistakes_gallery_most_confident_first_and_filters():
    at = inspect_page("Mistakes")
    captions = [img.caption for img in at.get("image")[0].proto.imgs]     # "true → predicted (p%)"
    assert 10 <= len(captions) <= 40
    assert "mistakes" in at.markdown[-1].value
    confidences = [int(c.rsplit("(", 1)[1].rstrip("%)")) for c in captions]
    assert confidences == sorted(confidences, reverse=True), "most confident mistakes first"
    assert all(c.split(" → ")[0] != c.split(" → ")[1].split(" (")[0] for c in captions)
    at.selectbox(key="inspect_true").set_value("7").run()
    assert not at.exception
    captions = [img.caption for img in at.get("image")[0].proto.imgs]
    assert captions and all(c.startswith("7 → ") for c in captions)
    at.selectbox(key="inspect_predicted").set_value("7").run()   # 7 taken for 7: never a mistake
    assert at.success and "No mistakes" in at.success[0].value


def test_activations_for_a_test_image_and_for_the_drawing():
    at = inspect_page("Activations")
    assert metric(at, "Predicted") in [str(d) for d in range(10)]
    titles = [s.get("title", {}) for s in chart_specs(at)]
    assert any("Hidden layer 1: 80 units" in str(t) for t in titles)
    assert any("Output layer" in str(t) for t in titles)
    at.slider(key="inspect_index").set_value(5).run()
    assert "Test image #5" in at.get("image")[0].proto.imgs[0].caption
    at.segmented_control(key="inspect_source").set_value("Your drawing").run()
    assert "not drawn anything" in at.info[0].value
    drawing = np.zeros((28, 28), np.float32)
    drawing[4:24, 13:16] = 1.0
    at.session_state["drawing_pixels"] = drawing.ravel()
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Predicted") in [str(d) for d in range(10)]


def test_first_layer_weights_as_images_with_paging():
    at = inspect_page("What units look for")
    images = at.get("image")[0].proto.imgs
    assert len(images) == 64 and images[0].caption == "unit 0"
    at.select_slider(key="inspect_weights_start").set_value(64).run()
    images = at.get("image")[0].proto.imgs
    assert len(images) == 16 and images[0].caption == "unit 64"


def chart_rows(chart):
    """The rows a chart draws (Streamlit sends a spec's inline data as an Arrow table)."""
    import pyarrow as pa

    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()


def test_training_curves_from_the_saved_history(tiny_model):
    at = inspect_page("Training curves")
    charts = at.get("vega_lite_chart")
    assert [json.loads(c.proto.spec)["title"] for c in charts] == [
        "Loss (lower is better)", "Accuracy (higher is better)"]
    for chart in charts:                    # every record of the saved history, both splits
        rows = chart_rows(chart)
        assert {r["split"] for r in rows} == {"training", "validation"}
        assert sum(r["split"] == "training" for r in rows) == len(tiny_model.history)


def test_saved_model_files_can_be_chosen_and_bad_ones_are_reported(app_env, tiny_model):
    save_model(app_env / "mnist" / "my run.npz", tiny_model)
    (app_env / "mnist" / "broken.npz").write_bytes(b"PK not really a zip")
    at = inspect_page()
    options = at.selectbox(key="inspect_model").options    # as shown
    assert len(options) == 3, options          # current (the pretrained one) + broken + my run
    assert any("pretrained" in o for o in options)
    # (AppTest's select() re-formats a formatted option; choosing through session_state is what
    # the widget does)
    at.session_state["inspect_model"] = str(app_env / "mnist" / "broken.npz")
    at.run()
    assert not at.exception
    assert at.error and "not a usable model" in at.error[0].value
    at.session_state["inspect_model"] = str(app_env / "mnist" / "my run.npz")
    at.run()
    assert not at.error
    assert metric(at, "Hidden layers") == "80"


def test_without_a_model_the_page_says_so():
    at = inspect_page(dataset="fashion-mnist")               # no Fashion model in this folder
    assert at.warning and "no Fashion-MNIST model" in at.warning[0].value
    assert any("Train" in link.label for link in at.get("page_link"))


# -- helpers -------------------------------------------------------------------------------------------
def test_weight_images_are_red_positive_blue_negative():
    rgb = diverging_rgb(np.array([-1.0, 0.0, 1.0]))
    assert tuple(rgb[1]) == (255, 255, 255)
    assert rgb[2][0] > rgb[2][2] and rgb[0][2] > rgb[0][0]
    W = np.zeros((784, 3), np.float32)
    W[0, 1] = 2.0
    images = weight_images(W, 1, 64, scale=2)
    assert len(images) == 2 and images[0].shape == (28 * 2 + 6, 28 * 2 + 6, 3)


def test_the_tab_comes_back_and_the_pretrained_model_is_listed_once(shipped_models):
    at = open_app("pages/inspect.py")
    choices = at.selectbox(key="inspect_model").options
    assert sum("pretrained" in c for c in choices) == 1, choices
    at.session_state["inspect_last_tab"] = "Training curves"    # what remember_tab() keeps
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/inspect.py").run()
    assert not at.exception
    assert "Loss" in " ".join(str(c.proto.spec) for c in at.get("vega_lite_chart")), \
        "the curves tab is open again"
