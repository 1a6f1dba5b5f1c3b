"""The per-run memory estimate (core.memory): exact parts, a measured run under tracemalloc below
it, the cap's refusal, and the Train page's line before Start."""
import dataclasses
import tracemalloc

import numpy as np
import pytest

from app.runs.replay import MAX_BYTES, MAX_COUNT, MIN_COUNT
from core import memory
from core.errors import ConfigError
from core.memory import DEFAULT_MAX_RUN_BYTES, SnapshotBudget, check_run_memory, run_memory
from core.model import MLP, ModelConfig
from core.optimizers import make_optimizer
from core.training import TrainConfig, get_preset
from tests.conftest import open_app, texts
from tests.helpers.runs import measure_run
from tests.helpers.splits import sample_splits

pytestmark = pytest.mark.timeout(120)

BUDGET = SnapshotBudget(MAX_BYTES, MIN_COUNT, MAX_COUNT)
HUGE = ModelConfig(hidden_sizes=(4096,) * 6)                 # 784-4096x6-10: ~100M weights
FULL_MNIST = memory.dataset_bytes(60_000, 10_000)


@pytest.fixture(autouse=True)
def default_cap(monkeypatch):
    monkeypatch.delenv("NN_MAX_RUN_MB", raising=False)


# -- exact parts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, state, work", [("sgd", 0, 1), ("momentum", 1, 1),
                                                   ("adam", 2, 2)])
def test_weights_gradients_and_optimizer_parts_are_exact(optimizer, state, work):
    config = ModelConfig(hidden_sizes=(30, 20))
    P = (784 + 1) * 30 + (30 + 1) * 20 + (20 + 1) * 10
    W = 784 * 30 + 30 * 20 + 20 * 10
    m = run_memory(config, TrainConfig(optimizer=optimizer), snapshot_budget=None)
    assert (m.weights, m.gradients, m.weight_copies) == (4 * P, 8 * P, 4 * (P + W))
    assert (m.optimizer_state, m.optimizer_work) == (4 * state * P, 4 * work * P)
    assert m.snapshots == 0 and m.data == 0

    # ... and they are what the optimiser really holds after a step
    model = MLP(config, np.random.default_rng(0))
    opt = make_optimizer(optimizer, 0.01)
    opt.step(model.params, {name: np.ones_like(p) for name, p in model.params.items()})
    held = sum(a.nbytes for slot in opt.SLOTS for a in getattr(opt, slot).values())
    buffers = sum(b.nbytes for bs in opt._scratch.values() for b in bs)
    assert (held, buffers) == (m.optimizer_state, m.optimizer_work)


def test_float64_doubles_the_parameter_parts():
    train = TrainConfig(optimizer="adam")
    single = run_memory(ModelConfig(hidden_sizes=(16,)), train, snapshot_budget=None)
    double = run_memory(ModelConfig(hidden_sizes=(16,), dtype="float64"), train,
                        snapshot_budget=None)
    for part in ("weights", "gradients", "optimizer_state", "optimizer_work", "weight_copies"):
        assert getattr(double, part) == 2 * getattr(single, part), part


def test_snapshots_follow_the_replay_budget():
    copy = 4 * ModelConfig(hidden_sizes=(256, 128)).num_parameters
    assert BUDGET.bytes_for(copy) == MAX_BYTES                      # 0.9 MB: fills the budget
    assert BUDGET.bytes_for(1000) == MAX_COUNT * 1000                # tiny: MAX_COUNT copies
    assert BUDGET.bytes_for(MAX_BYTES // MIN_COUNT + 1) == 0         # too big: no replay at all
    m = run_memory(HUGE, TrainConfig(), snapshot_budget=BUDGET)
    assert m.snapshots == 0


def test_data_and_the_dataset_size_are_counted():
    raw, splits = sample_splits()
    assert memory.splits_bytes(splits) == memory.dataset_bytes(len(raw.train_labels),
                                                               len(raw.test_labels))
    m = run_memory(ModelConfig(), TrainConfig(), snapshot_budget=None, data_bytes=12345)
    assert m.data == 12345 and m.total == sum(size for _, size in m.parts())
    full_batch = TrainConfig(batch_size=None)
    small = run_memory(ModelConfig(), full_batch, snapshot_budget=None, n_images=6_000)
    large = run_memory(ModelConfig(), full_batch, snapshot_budget=None, n_images=60_000)
    assert large.image_copies > 9 * small.image_copies       # the rearranged full batch


def test_describe_says_the_parts_in_words():
    needs = run_memory(get_preset("recommended").model, get_preset("recommended").train,
                       snapshot_budget=BUDGET, data_bytes=FULL_MNIST)
    text = needs.describe(detailed=True)
    assert text.startswith("about ") and "MB" in text
    for words in ("weights", "gradients", "Adam's state", "update buffers", "replay snapshots",
                  "dataset copy"):
        assert words in text, text
    short = needs.describe()
    for words in ("weights and their copies", "the Adam optimiser", "activations", "the images",
                  "the replay and curves"):
        assert words in short, short
    assert sum(size for _, size in needs.groups()) == needs.total
    assert memory.format_bytes(int(1.6 * 2**30)) == "1.6 GB"
    assert memory.format_bytes(2**30) == "1 GB"
    assert memory.format_bytes(45 * 2**20) == "45 MB"
    assert memory.format_bytes(int(0.9 * 2**20)) == "0.9 MB"


# -- the estimate against a measured run ----------------------------------------------------------
MEASURED = [
    pytest.param(ModelConfig(hidden_sizes=(256, 128), dropout=0.1),
                 TrainConfig(optimizer="adam", learning_rate=0.001, batch_size=128, iterations=12),
                 id="recommended-adam-dropout"),
    pytest.param(ModelConfig(hidden_sizes=(512, 512), activation="tanh", init="glorot"),
                 TrainConfig(optimizer="momentum", learning_rate=0.01, batch_size=1024,
                             iterations=6), id="tanh-momentum-batch1024"),
    pytest.param(ModelConfig(hidden_sizes=(64,)),
                 TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=None, iterations=4),
                 id="full-batch-compact"),
    pytest.param(ModelConfig(hidden_sizes=(1024,), activation="sigmoid", dropout=0.5),
                 TrainConfig(optimizer="adam", learning_rate=0.001, batch_size=64, augment=True,
                             iterations=6), id="sigmoid-augmented"),
]


@pytest.mark.parametrize("model_config, train_config", MEASURED)
def test_a_measured_run_stays_within_the_estimate(model_config, train_config):
    """A short run as the trainer does it (fit with replay snapshots at every step, then the
    final evaluation) under tracemalloc, which sees every NumPy array: its peak is below the
    estimate, and the estimate is not far above it. The replay budget is small so that a few
    records fill it, as a long run fills the real one."""
    raw, splits = sample_splits()
    copy = 4 * model_config.num_parameters
    budget = SnapshotBudget(max_bytes=MIN_COUNT * copy + 1, min_count=MIN_COUNT, max_count=200)
    train_config = dataclasses.replace(train_config, report_every=1,
                                       validation_size=len(splits.y_val))
    estimate = run_memory(model_config, train_config, snapshot_budget=budget,
                          n_images=len(raw.train_labels), n_test=len(raw.test_labels))
    assert not tracemalloc.is_tracing()
    measured = measure_run(model_config, train_config, splits, budget)
    assert measured <= estimate.total, (
        f"measured peak {measured:,} B is above the estimate {estimate.total:,} B "
        f"({estimate.describe()})")
    assert estimate.total < 3 * measured + 8 * memory.MB, (
        f"estimate {estimate.describe()} is far above the measured {measured:,} B")


# -- the cap --------------------------------------------------------------------------------------
def test_the_cap_comes_from_the_apps_settings():
    from core import settings
    assert settings.get({}).max_run_bytes == DEFAULT_MAX_RUN_BYTES == 1024 * memory.MB
    assert settings.get({"NN_MAX_RUN_MB": "300"}).max_run_bytes == 300 * memory.MB
    assert settings.get({"NN_MAX_RUN_MB": "0"}).max_run_bytes is None          # no limit
    for unreadable in ("lots", "-5", "1.5"):
        assert settings.get({"NN_MAX_RUN_MB": unreadable}).max_run_bytes == 1024 * memory.MB


def test_the_huge_adam_network_is_refused_with_what_to_change():
    with pytest.raises(ConfigError) as refused:
        check_run_memory(HUGE, TrainConfig(optimizer="adam"), snapshot_budget=BUDGET,
                         data_bytes=FULL_MNIST)
    message = str(refused.value)
    assert message.startswith("This network needs about ") and " GB to train (" in message
    assert "the Adam optimiser" in message and "at most 1 GB on this server" in message
    assert "cannot start" in message and "fewer or smaller hidden layers" in message
    # ... and with no limit it is only described
    assert check_run_memory(HUGE, TrainConfig(optimizer="adam"), snapshot_budget=BUDGET,
                            limit=10**15).total > 3 * 2**30


def test_sgd_is_suggested_only_when_it_would_fit():
    config = ModelConfig(hidden_sizes=(2048, 2048, 2048))
    train = TrainConfig(optimizer="adam")
    sgd = run_memory(config, dataclasses.replace(train, optimizer="sgd"), snapshot_budget=BUDGET)
    adam = run_memory(config, train, snapshot_budget=BUDGET)
    with pytest.raises(ConfigError, match="or SGD instead of Adam"):
        check_run_memory(config, train, snapshot_budget=BUDGET, limit=(sgd.total + adam.total) // 2)
    with pytest.raises(ConfigError) as refused:
        check_run_memory(config, train, snapshot_budget=BUDGET, limit=sgd.total // 2)
    assert "SGD" not in str(refused.value)


@pytest.mark.parametrize("name", ["recommended", "original", "textbook", "convnet"])
def test_the_presets_fit_under_the_default_cap_with_a_workers_copy_of_mnist(name):
    preset = get_preset(name)
    needs = check_run_memory(preset.model, preset.train, snapshot_budget=BUDGET,
                             data_bytes=FULL_MNIST)
    assert needs.total < 0.6 * DEFAULT_MAX_RUN_BYTES


# -- the Train page -------------------------------------------------------------------------------
@pytest.fixture
def train_page(app_models):
    return open_app("pages/train.py")


def test_train_page_says_what_a_run_needs_and_refuses_a_huge_network(train_page):
    at = train_page
    line = texts(at.caption)
    assert "Memory:" in line and "training this network needs about" in line
    assert "of the 1 GB a run may use here" in line
    assert not at.warning
    assert not at.button(key="train.start").disabled

    at.text_input(key="train.hidden").set_value("4096, 4096, 4096, 4096, 4096, 4096").run()
    assert not at.exception
    warning = texts(at.warning)
    assert "This network needs about" in warning and "cannot start" in warning, warning
    assert "fewer or smaller hidden layers" in warning
    assert "network needs about" not in texts(at.caption)
    assert at.button(key="train.start").disabled

    at.text_input(key="train.hidden").set_value("256, 128").run()
    assert "network needs about" in texts(at.caption) and "needs about" not in texts(at.warning)
    assert not at.button(key="train.start").disabled


def test_train_page_follows_the_cap_setting(app_models, monkeypatch):
    monkeypatch.setenv("NN_MAX_RUN_MB", "50")
    at = open_app("pages/train.py")
    assert "at most 50 MB on this server" in texts(at.warning)
    monkeypatch.setenv("NN_MAX_RUN_MB", "0")
    at.run()
    assert "network needs about" in texts(at.caption) and "a run may use" not in texts(at.caption)
