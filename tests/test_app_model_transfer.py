"""Models that travel, on the Train page's "Your models" panel (AppTest): the current model
downloads as an .npz that modelio loads back and exports as .safetensors; an uploaded .npz becomes
the current model of its dataset; a damaged file, a pickle, a model of the other dataset and an
oversized file are each refused with a clear st.error and change nothing."""
import io
import json

import numpy as np
import pytest

from app.data import shipped_model
from app.store.files import download_name, npz_bytes
from core import modelio
from core.model import MLP, ModelConfig
from core.modelio import SavedModel
from tests.conftest import needs_model, open_app, texts

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def app_env(app_models):
    """Offline, st.navigation mode, models in an empty temporary folder (tests/conftest.py)."""
    return app_models


def model_bytes(dataset="mnist", hidden=(8,), seed=0):
    saved = SavedModel(MLP(ModelConfig(hidden_sizes=hidden), np.random.default_rng(seed)), dataset,
                       metrics={"test_accuracy": 0.99})
    return npz_bytes(saved)


def pickled_model():
    """A model file whose weights are a pickled Python object (np.load would run its code)."""
    good = np.load(io.BytesIO(model_bytes()), allow_pickle=False)
    arrays = {key: good[key] for key in good.files}
    arrays["layers.0.W"] = np.array([{"evil": "code"}], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def upload(at, name, data, dataset="mnist"):
    at.file_uploader(key=f"train.upload_{dataset}").set_value(
        (name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def current(at, dataset="mnist"):
    return at.session_state["user_models"][dataset]


@needs_model
def test_the_current_model_downloads_as_an_npz_that_loads_back_and_exports_for_pytorch(
        shipped_models):
    at = open_app("pages/train.py")
    download, export = at.get("download_button")
    assert download.label == "Download this model (.npz)" and not download.disabled
    assert export.label == "Export for PyTorch (.safetensors)" and not export.disabled
    saved = at.session_state["user_models"]["mnist"]
    assert saved is None, "the pretrained model is current"
    pretrained, _ = shipped_model("mnist")
    data = npz_bytes(pretrained)             # what the download button sends
    back = modelio.load_model(data, expected_dataset="mnist")
    assert back.model.config == pretrained.model.config and back.scaling == pretrained.scaling
    for key, value in pretrained.model.params.items():
        np.testing.assert_array_equal(back.model.params[key], value, err_msg=key)
    assert download_name(pretrained, "npz") == "mnist-784-256-128-10.npz"
    st_numpy = pytest.importorskip("safetensors.numpy")
    from core import safetensors as export_module
    tensors = st_numpy.load(export_module.export_bytes(pretrained))
    np.testing.assert_array_equal(tensors["0.weight"], pretrained.model.params["layers.0.W"].T)


def test_without_a_model_the_downloads_are_disabled_and_say_why():
    at = open_app("pages/train.py")                     # an empty model folder: no pretrained
    for button in at.get("download_button"):
        assert button.disabled and "no current model" in button.help


def test_a_good_upload_becomes_the_current_model_with_a_notice_and_its_curves():
    at = open_app("pages/train.py")
    upload(at, "my net.npz", model_bytes(hidden=(8,)))
    assert "Uploaded “my net”" in texts(at.success), texts(at.error)
    saved, label = current(at)
    assert label == "uploaded model “my net”"
    assert saved.model.config.hidden_sizes == (8,)
    assert saved.metrics["claimed_test_accuracy"] == 0.99, "the file's claim is kept as a claim"
    assert saved.metrics["test_accuracy"] < 0.5, "the accuracy is measured here: random weights"
    assert "uploaded model “my net”" in texts(at.caption) + texts(at.sidebar.caption)
    at.switch_page("pages/draw.py").run()
    assert not at.exception
    assert current(at)[1] == "uploaded model “my net”", "Draw uses it"


def oversized():
    return b"PK\x03\x04" + bytes(modelio.MAX_FILE_BYTES)


BAD_FILES = {
    "damaged": (b"PK\x03\x04 not really a zip", "damaged"),
    "not a zip": (b"hello, I am a text file", "not an .npz file"),
    "pickle": (None, "pickled Python objects"),
    "other dataset": (None, "switch the dataset in the sidebar to Fashion-MNIST"),
    "oversized": (None, "at most 64 MB"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_upload_shows_a_clear_error_and_changes_nothing(kind):
    data, message = BAD_FILES[kind]
    data = {"pickle": pickled_model, "other dataset": lambda: model_bytes("fashion-mnist"),
            "oversized": oversized}.get(kind, lambda: data)()
    at = open_app("pages/train.py")
    upload(at, "first.npz", model_bytes(hidden=(6,)))
    before = current(at)
    runs = list(at.session_state["runs"])
    upload(at, f"{kind}.npz", data)
    assert message in texts(at.error), f"{kind}: {texts(at.error)!r}"
    assert not at.success
    assert current(at) is before or current(at) == before, "the current model is unchanged"
    assert current(at)[0].model.config.hidden_sizes == (6,)
    assert at.session_state["user_models"]["fashion-mnist"] is None
    assert at.session_state["runs"] == runs


def test_a_model_of_the_other_dataset_uploads_once_the_dataset_is_switched():
    at = open_app("pages/train.py")
    data = model_bytes("fashion-mnist")
    upload(at, "fashion.npz", data)
    assert "Fashion-MNIST" in texts(at.error) and current(at) is None
    at.sidebar.selectbox(key="dataset").set_value("fashion-mnist").run()
    upload(at, "fashion.npz", data, dataset="fashion-mnist")
    assert "Uploaded “fashion”" in texts(at.success), texts(at.error)
    assert current(at, "fashion-mnist")[1] == "uploaded model “fashion”"
    assert current(at, "mnist") is None


def test_an_uploaded_file_name_cannot_inject_markdown():
    at = open_app("pages/train.py")
    upload(at, "**bold** [x](http://e.vil).npz", model_bytes())
    label = current(at)[1]
    assert "*" not in label and "[" not in label and "(" not in label.replace("“", "")
    assert json.dumps(label)                                  # a plain string
