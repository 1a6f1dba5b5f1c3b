"""Quotas that hold across replicas: server processes sharing one model store save at once.

Four processes (multiprocessing, spawn: fresh interpreters, as replicas in separate containers
would be) save through ``app.store.hosting.store`` into one store at the same moment. Each one's quota
check is slowed down (a pause between the check and the write), so that without a lock shared by
the processes every one of them would pass its check before any wrote: the control run, with a
lock of each process only, shows that this race is real. With the store's lock, the class's
total and one visitor's count (a visitor with two tabs on two replicas) are never exceeded.
"""
import multiprocessing
import time

import numpy as np
import pytest

from app import tokens
from app.store import hosting
from app.store.hosting import MB, Settings
from core.model import MLP, ModelConfig
from core.modelio import SavedModel, save_model

pytestmark = pytest.mark.timeout(120)

PROCESSES = 4
SAVES = 4                         # each process tries this many saves
FIT = 5                           # the quota holds this many models
CHECK_PAUSE = 0.2                 # seconds between a process's quota check and its write


def visitors(root, count=PROCESSES):
    """Tokens the store's server issued (app.tokens), as real visitors have."""
    return [tokens.issue(root) for _ in range(count)]


def model_bytes(tmp_path):
    path = save_model(tmp_path / "model.npz",
                      SavedModel(MLP(ModelConfig(hidden_sizes=(8,)), np.random.default_rng(0)),
                                 "mnist"))
    return path.read_bytes()


def save_racing(root, process, tokens, data, config, start, shared_lock):
    """A replica: wait for the others, then try SAVES saves. Returns nothing; the files tell."""
    check = hosting.check_quota

    def slow_check(*args, **kwargs):
        check(*args, **kwargs)
        time.sleep(CHECK_PAUSE)         # the window in which another replica could check too
    hosting.check_quota = slow_check
    if not shared_lock:                 # the control: what a lock of one process gives
        hosting.store_lock = lambda root: hosting._store_lock
    token = tokens[process]
    start.wait(timeout=60)
    for n in range(SAVES):
        path = hosting.saved_root(root, token, True) / "mnist" / f"p{process}-{n}.npz"
        try:
            hosting.store(root, token, path, data, config)
        except hosting.QuotaError:
            pass


def race(root, tokens, data, config, shared_lock=True):
    """Run PROCESSES replicas saving at once; returns the model files in the store."""
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(PROCESSES)
    replicas = [spawn.Process(target=save_racing, daemon=True,
                              args=(root, i, tokens, data, config, start, shared_lock))
                for i in range(PROCESSES)]
    for process in replicas:
        process.start()
    for process in replicas:
        process.join(timeout=90)
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in replicas] == [0] * PROCESSES, \
        "a replica failed (its traceback is in the captured stderr)"
    return sorted(root.rglob("*.npz"))


def test_the_class_total_holds_when_replicas_save_at_once(tmp_path):
    data = model_bytes(tmp_path)
    config = Settings(hosted=True, max_models=100, max_mb_per_visitor=1000,
                      max_mb_total=len(data) * (FIT + 0.5) / MB)
    root = tmp_path / "store"
    saved = race(root, visitors(root), data, config)
    assert len(saved) == FIT, f"{len(saved)} models saved, the quota holds {FIT}"
    assert hosting.total_bytes(root) <= config.max_mb_total * MB
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")], "a temporary file remains"

    control = race(tmp_path / "control", visitors(tmp_path / "control"), data, config,
                   shared_lock=False)
    assert len(control) > FIT, \
        "without the shared lock the racing replicas should overshoot: the test lost its race"


def test_one_visitors_count_holds_when_two_replicas_save_for_them_at_once(tmp_path):
    data = model_bytes(tmp_path)
    config = Settings(hosted=True, max_models=FIT, max_mb_per_visitor=1000, max_mb_total=1000)
    root = tmp_path / "store"
    token = tokens.issue(root)
    saved = race(root, [token] * PROCESSES, data, config)   # one visitor, many tabs/replicas
    assert len(saved) == FIT, f"{len(saved)} models saved for one visitor, who may keep {FIT}"
    assert hosting.usage(hosting.saved_root(root, token, True)).models == FIT
