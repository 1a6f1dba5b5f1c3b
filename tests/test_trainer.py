"""The background trainer on its own: runs, stops within a second, diverges, respects the cap,
and never outlives an abandoned session."""
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from app import trainer as trainer_module
from app.trainer import Trainer, TrainingBusy
from core.errors import ConfigError
from core.model import ModelConfig
from core.training import TrainConfig
from tests.conftest import trainings_left, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def splits():
    """Two easy, separable classes in 784 pixels: fast to learn, no dataset needed."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        X = rng.random((n, 784), dtype=np.float32) * 0.2
        X[np.arange(n), y * 70] += 1.0
        return X, y.astype(np.int64)
    X_train, y_train = make(2000)
    X_val, y_val = make(300)
    X_test, y_test = make(300)
    return SimpleNamespace(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val,
                           X_test=X_test, y_test=y_test, scaling="unit")


SMALL = ModelConfig(hidden_sizes=(16,))


@pytest.fixture(autouse=True)
def no_leftover_threads():
    yield
    assert trainings_left(5) == 0, "a training thread outlived its test"


def test_run_to_the_end_gives_a_model_with_test_accuracy(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.5, epochs=3, batch_size=50), splits, dataset="mnist")
    assert t.join(30)
    snap = t.snapshot()
    assert snap.status == "done", snap.message
    assert snap.history and snap.history[-1]["step"] == snap.total_steps == 120
    assert snap.saved is not None and snap.saved.metrics["test_accuracy"] > 0.9
    assert snap.saved.dataset == "mnist" and snap.saved.history == snap.history


def test_stop_ends_the_run_and_keeps_the_weights(splits):
    t = Trainer()
    t.start(ModelConfig(hidden_sizes=(64,)), TrainConfig(learning_rate=0.1, iterations=1_000_000,
                                                         batch_size=32), splits)
    assert wait_for(lambda: len(t.snapshot().history) >= 2)
    t.stop()
    assert t.join(10), "the thread was still running long after Stop"
    snap = t.snapshot()
    assert snap.status == "stopped"
    assert snap.saved is not None, "a stopped run keeps the weights learned so far"


def test_records_keep_coming_from_step_0_with_weight_snapshots(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits)
    assert wait_for(lambda: len(t.snapshot().history) >= 15, 20)
    t.stop()
    t.join(10)
    snap = t.snapshot()
    steps = [r["step"] for r in snap.history]
    assert steps[:11] == list(range(11)), "step 0, then every one of the first ten steps"
    assert steps == sorted(set(steps))
    kept = snap.snapshots.items()
    assert kept and kept[0].step == 0 and kept[-1].record == len(snap.history) - 1
    assert kept[0].params["layers.0.W"] is not t.live_model().params["layers.0.W"]


def test_divergence_stops_with_advice_to_lower_the_learning_rate(splits):
    t = Trainer()
    t.start(ModelConfig(hidden_sizes=(64, 64)), TrainConfig(learning_rate=50.0, epochs=5,
                                                            batch_size=32), splits)
    assert t.join(30)
    snap = t.snapshot()
    assert snap.status == "diverged"
    assert "learning rate" in snap.message.lower()
    assert snap.blew_up is not None and snap.blew_up["step"] >= 1, "where to mark the explosion"
    assert snap.history, "the curve up to the explosion"


def test_server_wide_cap(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "1")
    first, second = Trainer(), Trainer()
    long_run = TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32)
    first.start(SMALL, long_run, splits)
    with pytest.raises(TrainingBusy, match="limit is 1"):
        second.start(SMALL, long_run, splits)
    with pytest.raises(TrainingBusy, match="already running in this session"):
        first.start(SMALL, long_run, splits)
    first.stop()
    assert first.join(15)
    second.start(SMALL, TrainConfig(learning_rate=0.1, iterations=20, batch_size=32), splits)
    assert second.join(20)
    assert second.snapshot().status == "done"


def test_run_stops_when_nobody_polls(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits,
            poll_timeout=0.5)
    assert t.join(20), "an unpolled run must end by itself"
    assert t.snapshot().status == "abandoned"


def test_run_stops_when_the_browser_session_is_gone(splits, monkeypatch):
    monkeypatch.setattr(trainer_module, "DISCONNECT_GRACE", 0.3)
    connected = threading.Event()
    connected.set()
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits,
            is_alive=connected.is_set, poll_timeout=0.1)
    time.sleep(1.0)
    assert t.thread_alive, "a connected session keeps its run even without polls"
    connected.clear()                       # the tab was closed or reloaded
    assert t.join(20)
    assert t.snapshot().status == "abandoned"


def test_live_model_is_a_copy(splits):
    t = Trainer()
    assert t.live_model() is None
    t.start(SMALL, TrainConfig(learning_rate=0.5, iterations=30, batch_size=50), splits)
    t.join(20)
    live = t.live_model()
    final = t.snapshot().saved.model
    assert live is not final
    assert all(np.array_equal(live.params[k], final.params[k]) for k in final.params)
    assert live.params["layers.0.W"] is not final.params["layers.0.W"]


def test_a_stop_while_starting_is_not_overwritten_by_running(splits, monkeypatch):
    t = Trainer()
    seen = []

    def slow_start(splits):
        t.stop()                                   # the visitor presses Stop while it starts
        return splits

    def fit(model, splits, config, rng):
        seen.append(t.snapshot(poll=False).status)   # what the page shows once training begins
        yield from ()

    monkeypatch.setattr(trainer_module, "live_splits", slow_start)
    monkeypatch.setattr("core.training.fit", fit)
    t.start(SMALL, TrainConfig(epochs=1), splits, dataset="mnist")
    assert t.join(10)
    assert seen == ["stopping"]
    assert t.snapshot().status == "stopped"


def test_a_config_error_while_starting_shows_its_own_message(splits, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConfigError("Batch size 0 is not possible: use 1 or more.")
    monkeypatch.setattr(trainer_module, "live_splits", refuse)
    t = Trainer()
    t.start(SMALL, TrainConfig(epochs=1), splits, dataset="mnist")
    assert t.join(10)
    snap = t.snapshot()
    assert (snap.status, snap.message) == ("failed", "Batch size 0 is not possible: use 1 or more.")
