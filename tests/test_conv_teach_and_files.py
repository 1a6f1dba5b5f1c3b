"""Conv nets through Teach it (core.finetune) and model files (save/load, safetensors export)."""
import numpy as np

from core.finetune import TeachConfig, copy_model, teach
from core.model import MLP, ModelConfig
from core.modelio import SavedModel, load_model, save_model
from tests.helpers.splits import blobs


def tiny_conv():
    return MLP(ModelConfig(layers="conv 2x5, pool 2, dense 8"), np.random.default_rng(0))


def test_teaching_a_conv_net_runs_and_changes_only_the_copy():
    model = tiny_conv()
    splits = blobs(n=300, seed=0)
    rng = np.random.default_rng(1)
    X = rng.random((20, 784)).astype(np.float32)
    y = np.repeat(np.arange(10), 2)
    taught = copy_model(model)
    assert taught.config.is_convolutional
    whole = TeachConfig(steps=10, report_every=5, augment=False, augment_dataset=False,
                        fast_head=False)                # the whole network, every step
    records = list(teach(taught, splits, X, y, whole))
    assert records and records[-1].step == 10
    assert not np.array_equal(taught.params["layers.0.W"], model.params["layers.0.W"])
    assert taught.params["layers.0.W"].shape == (2, 1, 5, 5)
    # by default the dense layers are taught on pools of the convolutions' output first; random
    # pixels are beyond the kept convolutions, so then the whole network is taught as above
    taught = copy_model(model)
    records = list(teach(taught, splits, X, y, TeachConfig(steps=10, report_every=5,
                                                            augment=False, augment_dataset=False)))
    assert [r.step for r in records] == [0, 5, 10, 15, 20]
    assert not np.array_equal(taught.params["layers.0.W"], model.params["layers.0.W"])


def test_a_conv_net_saves_loads_and_exports(tmp_path):
    model = tiny_conv()
    path = tmp_path / "conv.npz"
    save_model(path, SavedModel(model=model, dataset="mnist", scaling="unit", metrics={}))
    back = load_model(path)
    assert back.model.config.layers == model.config.layers
    x = np.random.default_rng(2).random((3, 784)).astype(np.float32)
    np.testing.assert_allclose(back.model.predict_proba(x), model.predict_proba(x), rtol=1e-6)
    from core.safetensors import state_dict
    tensors = state_dict(back.model)
    assert tensors["0.weight"].shape == (2, 1, 5, 5), "PyTorch's Conv2d layout"
