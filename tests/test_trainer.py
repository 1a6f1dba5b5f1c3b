"""The background trainer on its own: runs, stops within a second, diverges, respects the cap,
and never outlives an abandoned session."""
import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.runs import job as job_module
from app.runs.line import TrainingBusy
from app.runs.trainer import Trainer
from core.errors import ConfigError
from core.model import ModelConfig
from core.training import TrainConfig
from tests.conftest import trainings_left, wait_for
from tests.helpers.procs import exited, process_tree
from tests.helpers.runs import KILL_SCRIPT
from tests.helpers.splits import splits_of

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
    return splits_of(X_train, y_train, X_val, y_val, X_test, y_test)


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
    assert snap.saved.dataset == "mnist" and snap.saved.history == list(snap.history)


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


def test_a_full_server_puts_the_next_runs_in_line(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "1")
    first, second, third = Trainer(), Trainer(), Trainer()
    long_run = TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32)
    first.start(SMALL, long_run, splits)
    second.start(SMALL, TrainConfig(learning_rate=0.1, iterations=20, batch_size=32), splits)
    third.start(SMALL, long_run, splits)
    for t, place in ((second, 1), (third, 2)):
        snap = t.snapshot()
        assert (snap.status, snap.place) == ("waiting", place)
        assert f"number {place} in line" in snap.waiting_text and "1 network at a time" in snap.waiting_text
    with pytest.raises(TrainingBusy, match="already running in this session"):
        first.start(SMALL, long_run, splits)
    assert wait_for(lambda: len(first.snapshot().history) >= 2)
    assert second.snapshot().status == "waiting", "the line holds while the place is taken"
    first.stop()
    assert first.join(15)
    assert second.join(30), "the next in line starts by itself when the place is free"
    assert second.snapshot().status == "done"
    assert wait_for(lambda: third.snapshot().status in ("starting", "running"))
    third.stop()
    assert third.join(15)
    assert third.snapshot().status == "stopped"


def test_a_stop_while_waiting_trains_nothing(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "1")
    first, second = Trainer(), Trainer()
    first.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits)
    second.start(SMALL, TrainConfig(epochs=1), splits)
    second.stop()
    assert second.join(10)
    snap = second.snapshot()
    assert (snap.status, snap.saved) == ("stopped", None)
    assert "while waiting" in snap.message
    first.stop()
    assert first.join(15)


def test_run_stops_when_nobody_polls(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits,
            poll_timeout=0.5)
    assert t.join(20), "an unpolled run must end by itself"
    assert t.snapshot().status == "abandoned"


def test_run_stops_when_the_browser_session_is_gone(splits, monkeypatch):
    monkeypatch.setattr(job_module, "DISCONNECT_GRACE", 0.3)
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
    assert t.join(60)
    live = t.live_model()
    final = t.snapshot().saved.model
    assert live is not final and live.params["layers.0.W"] is not final.params["layers.0.W"]
    # a copy: changing it changes nothing the trainer holds. (Not compared with the final
    # weights: on a busy machine the worker's last records go without their weights, so the live
    # copy may be a few steps behind; app/worker.py's sender.)
    before = {name: array.copy() for name, array in live.params.items()}
    for array in live.params.values():
        array += 1.0
    again = t.live_model()
    assert all(np.array_equal(again.params[k], before[k]) for k in before)
    assert not np.array_equal(final.params["layers.0.W"], live.params["layers.0.W"])


def test_a_stop_while_starting_is_not_overwritten_by_running(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits)
    t.stop()                          # before the worker process has even started
    seen = []
    while not t.join(0.02):
        seen.append(t.snapshot(poll=False).status)
    assert "running" not in seen and set(seen) <= {"stopping", "evaluating"}
    assert t.snapshot().status == "stopped"


def test_a_config_error_in_the_worker_shows_its_own_message(splits):
    t = Trainer()
    t.start(ModelConfig(input_size=100, hidden_sizes=(8,)), TrainConfig(epochs=1), splits)
    assert t.join(30)
    snap = t.snapshot()
    assert (snap.status, snap.message) == ("failed", "The model's input size does not match the images.")


def test_training_runs_in_its_own_process_which_ends_with_the_run(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits)
    assert wait_for(lambda: len(t.snapshot().history) >= 2)
    pid = t.worker_pid
    assert pid is not None and pid != os.getpid()
    t.stop()
    assert t.join(15)
    assert t.worker_pid is None and exited(pid)


def test_killing_the_server_leaves_no_training_process_behind(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(KILL_SCRIPT.format(root=str(Path(__file__).resolve().parents[1])))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(server.stdout.readline())
        assert not exited(pid)
        children = process_tree(server.pid)[1:]   # the worker and multiprocessing's resource tracker
        assert pid in children
    finally:
        server.kill()                                       # kill -9: no cleanup code runs
        server.wait()
    assert wait_for(lambda: all(exited(child) for child in children), 15), \
        "a process started for training outlived the server"


def test_a_network_over_the_memory_cap_is_refused_before_it_takes_a_place(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_RUN_MB", "64")
    t = Trainer()
    huge = ModelConfig(hidden_sizes=(2048, 2048, 2048))              # 12.6M weights, ~50 MB each copy
    with pytest.raises(ConfigError, match="a run may use at most 64 MB on this server"):
        t.start(huge, TrainConfig(optimizer="adam", learning_rate=0.001, epochs=1), splits)
    assert t.snapshot().status == "idle" and trainings_left(0) == 0


def test_a_run_without_validation_images_goes_through_the_worker(splits):
    no_validation = dataclasses.replace(splits, X_val=splits.X_val[:0], y_val=splits.y_val[:0],
                                        val_indices=splits.val_indices[:0])
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.5, iterations=30, batch_size=50), no_validation)
    assert t.join(30)
    snap = t.snapshot()
    assert snap.status == "done", snap.message
    assert snap.saved.metrics["test_accuracy"] > 0.5


@pytest.mark.parametrize("hosted, setting, lower", [("1", None, 5), ("0", None, 0), ("1", "2", 2)])
def test_a_class_servers_worker_trains_below_the_servers_priority(splits, monkeypatch, hosted,
                                                                  setting, lower):
    monkeypatch.setenv("NN_HOSTED", hosted)
    if setting is None:
        monkeypatch.delenv("NN_WORKER_NICE", raising=False)
    else:
        monkeypatch.setenv("NN_WORKER_NICE", setting)
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits)
    try:
        assert wait_for(lambda: len(t.snapshot().history) >= 2)
        with open(f"/proc/{t.worker_pid}/stat") as f:
            nice = int(f.read().split(")")[-1].split()[16])
        assert nice == min(19, os.nice(0) + lower)
    finally:
        t.stop()
        assert t.join(15)
