"""Issue 26, item 5: after a worker is killed, the page says what happened (a signal from
outside, the kernel's out-of-memory killer, or this app's memory limit, and which limit), not
"try a smaller network" for a small network. Real workers, really killed."""
import os
import signal
import sys

import numpy as np
import pytest

from app.runs import job as job_module
from app.runs.teacher import Teacher
from app.runs.trainer import Trainer
from core.finetune import TeachConfig
from core.handwriting import Drawings
from core.model import MLP, ModelConfig
from core.modelio import SavedModel
from core.training import TrainConfig
from tests.conftest import trainings_left, wait_for

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc"),
              pytest.mark.timeout(120)]

SMALL = ModelConfig(hidden_sizes=(8,))


@pytest.fixture
def splits():
    from types import SimpleNamespace
    rng = np.random.default_rng(0)
    X = rng.random((600, 784), dtype=np.float32)
    y = rng.integers(0, 10, 600)
    yield SimpleNamespace(X_train=X[:400], y_train=y[:400], X_val=X[400:500], y_val=y[400:500],
                          X_test=X[500:], y_test=y[500:], scaling="unit")
    trainings_left(10)


def long_training(splits):
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits,
            dataset="mnist", label="long run")
    assert wait_for(lambda: len(t.snapshot().history) >= 2, 60), t.snapshot().message
    return t


def ended(t):
    assert t.join(30)
    return t.snapshot()


def test_kill_9_of_a_small_networks_worker_says_a_signal_from_outside(splits, monkeypatch):
    monkeypatch.setattr(job_module, "oom_kills", lambda: 7)         # no out-of-memory kill meanwhile
    t = long_training(splits)
    os.kill(t.worker_pid, signal.SIGKILL)
    snap = ended(t)
    assert snap.status == "failed"
    assert snap.message.startswith("The training process was killed by a signal (SIGKILL) from "
                                   "outside this app"), snap.message
    assert "within its memory limit" in snap.message and "nothing is wrong with your settings" \
        in snap.message
    assert "out of memory" not in snap.message and "smaller" not in snap.message


def test_a_worker_killed_while_the_kernel_ran_out_of_memory_says_so(splits, monkeypatch):
    counts = iter([3, 4])                                      # before the worker, after its death
    monkeypatch.setattr(job_module, "oom_kills", lambda: next(counts, 4))
    t = long_training(splits)
    os.kill(t.worker_pid, signal.SIGKILL)                      # as the OOM killer sends it
    message = ended(t).message
    assert message.startswith("The training process was killed by the system because the "
                              "server ran out of memory"), message
    assert "not because of your network" in message and "smaller" not in message


def test_the_apps_own_memory_limit_names_the_limit_and_what_was_used(splits, monkeypatch):
    monkeypatch.setattr(job_module, "RSS_SLACK", (0.0, 2**20))   # the limit: 1 MB, any worker is over
    t = Trainer()
    t.start(SMALL, TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=32), splits,
            dataset="mnist")
    snap = ended(t)
    assert snap.status == "failed"
    assert snap.message.startswith("The training process used "), snap.message
    assert "more than the 1.0 MB this app lets it use (its estimate of" in snap.message
    assert "so the app stopped it" in snap.message and "smaller" not in snap.message


def test_a_killed_teaching_says_teaching_and_keeps_the_model(splits, monkeypatch):
    monkeypatch.setattr(job_module, "oom_kills", lambda: None)      # cannot be read: no claim
    saved = SavedModel(model=MLP(SMALL, np.random.default_rng(0)), dataset="mnist")
    before = {name: array.copy() for name, array in saved.model.params.items()}
    rng = np.random.default_rng(1)
    drawings = Drawings(rng.integers(0, 256, (40, 784), dtype=np.uint8),
                        rng.integers(0, 10, 40).astype(np.uint8), np.zeros((40, 56, 56), np.uint8))
    teacher = Teacher()
    teacher.start(saved, "your model", splits, drawings, TeachConfig(steps=1_000_000), 0.0)
    assert wait_for(lambda: teacher.snapshot().status == "running" and teacher.worker_pid, 60)
    os.kill(teacher.worker_pid, signal.SIGKILL)
    snap = ended(teacher)
    assert snap.message.startswith("The teaching process was killed by a signal (SIGKILL)")
    assert snap.saved is None
    for name, array in saved.model.params.items():
        np.testing.assert_array_equal(array, before[name])


def test_an_unexpected_exit_code_does_not_blame_the_network():
    message = job_module.killed_message(3, 500 * 2**20, "train")
    assert "exit code 3" in message and "smaller" not in message
    assert "(SIGTERM) from outside this app" in job_module.killed_message(-signal.SIGTERM)
