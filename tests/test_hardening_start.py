"""Issue 16, findings 2 and 3: rapid Starts and one visitor holding every slot.

Six clicks on Start within 0.6 s (Streamlit runs each callback in its own thread) started six
training threads in one tab, and another visitor could still start (7 running with a cap of 2).
Here 20 Start calls from 3 visitors are released at once by a barrier, and the runs are counted:
one per visitor, at most the server's cap training and the rest waiting in line. A run also stops by itself
at the server's time limit, keeping what it learned.
"""
import time
import pytest

from app.runs import line
from app.runs.line import TrainingBusy, limits_text, max_run_seconds, max_trainings, running_by_visitor, running_count, waiting_count
from app.runs.trainer import Trainer
from core.model import ModelConfig
from core.training import TrainConfig
from tests.conftest import trainings_left
from tests.helpers.runs import simultaneous_starts, three_visitors
from tests.helpers.splits import random_splits

pytestmark = pytest.mark.timeout(120)

SMALL = ModelConfig(hidden_sizes=(16,))
LONG = TrainConfig(learning_rate=0.1, epochs=200, batch_size=50)        # minutes if not stopped


@pytest.fixture(scope="module")
def splits():
    return random_splits(2000)


@pytest.fixture(autouse=True)
def no_leftover_runs():
    yield
    assert trainings_left(10) == 0, "a training thread outlived its test"


def fire_starts(splits, trainers, prefix):
    return simultaneous_starts(splits, trainers, prefix)


def stop_all(trainers):
    for _, t in trainers:
        t.stop()
    for _, t in trainers:
        t.join(10)


def test_twenty_simultaneous_starts_from_three_visitors_respect_the_caps(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "2")
    monkeypatch.setenv("NN_MAX_TRAININGS_PER_VISITOR", "1")
    trainers = three_visitors()          # A: 7 clicks in one tab; B: 7 tabs; C: 2 tabs x 3 clicks
    try:
        started, refused, peak, seconds = fire_starts(splits, trainers, "cap-")
        print(f"\n20 simultaneous Starts from 3 visitors (cap 2, 1 per visitor): {len(started)} "
              f"started, {len(refused)} refused in {seconds * 1000:.0f} ms; at most "
              f"{peak['threads']} runs alive, at most {peak['per_visitor']} per visitor")
        assert sorted(started) == ["A", "B", "C"], started     # one run per visitor
        assert len(refused) == 17
        assert peak["threads"] <= 3 and peak["per_visitor"] <= 1, peak
        assert (running_count(), waiting_count()) == (2, 1), "two train, the third waits its turn"
    finally:
        stop_all(trainers)


def test_rapid_clicks_in_one_tab_start_one_run(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "6")
    monkeypatch.setenv("NN_MAX_TRAININGS_PER_VISITOR", "6")      # only the tab's own guard
    tab = Trainer()
    trainers = [("solo", tab)] * 6
    try:
        started, refused, peak, _ = fire_starts(splits, trainers, "tab-")
        assert len(started) == 1 and peak["threads"] == 1, (started, peak)
        assert all("already running in this session" in r for r in refused)
        history_before = len(tab.snapshot().history)
        time.sleep(0.5)
        elapsed = [h["elapsed"] for h in tab.snapshot().history]
        assert elapsed == sorted(elapsed) and len(elapsed) >= history_before   # time never goes back
    finally:
        stop_all(trainers)


def test_one_visitor_cannot_hold_every_slot(splits, monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "2")
    first, second, other = Trainer(), Trainer(), Trainer()
    try:
        first.start(SMALL, LONG, splits, dataset="mnist", visitor="visitor:same-browser")
        with pytest.raises(TrainingBusy, match="1 per visitor"):
            second.start(SMALL, LONG, splits, dataset="mnist", visitor="visitor:same-browser")
        other.start(SMALL, LONG, splits, dataset="mnist", visitor="visitor:someone-else")
        assert running_by_visitor() == {"visitor:same-browser": 1, "visitor:someone-else": 1}
    finally:
        stop_all([(None, t) for t in (first, second, other)])


def test_a_run_stops_at_the_time_limit_and_keeps_what_it_learned(splits):
    t = Trainer()
    start = time.monotonic()
    endless = TrainConfig(learning_rate=0.1, iterations=1_000_000, batch_size=50)  # hours
    t.start(SMALL, endless, splits, dataset="mnist", visitor="visitor:patient", max_seconds=1)
    assert t.snapshot().time_limit == 1
    assert t.join(20)
    snap = t.snapshot()
    assert time.monotonic() - start < 10
    assert snap.status == "stopped" and "longest a run may train" in snap.message
    assert snap.saved is not None and snap.history[-1]["step"] < snap.total_steps


def test_the_default_limits_are_said_in_one_sentence(monkeypatch):
    for name in ("NN_MAX_TRAININGS", "NN_MAX_TRAININGS_PER_VISITOR", "NN_MAX_TRAINING_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(line, "cores", lambda: 2)      # the default cap: one per core
    monkeypatch.setattr(line, "memory_slots", lambda: 1000)
    assert max_run_seconds() == 600
    assert limits_text() == ("This server trains at most 2 networks at a time (more wait in line), "
                             "1 per visitor; a run stops after 10 minutes and keeps what it has "
                             "learned.")
    monkeypatch.setenv("NN_MAX_TRAINING_SECONDS", "0")
    assert max_run_seconds() is None and "stops after" not in limits_text()


@pytest.mark.timeout(120)
def test_two_tabs_of_one_browser_share_the_per_visitor_limit(app_models):
    """Two AppTest sessions with the same visitor token (one browser, two tabs)."""
    from app import tokens, visitor
    from tests.conftest import open_app, texts, tiny_run
    token = tokens.issue(app_models)                    # the browser's, issued by this server
    original = visitor.request_cookies
    visitor.request_cookies = lambda: {visitor.COOKIE: token}
    try:
        first = tiny_run(open_app("pages/train.py"), epochs=50)
        second = tiny_run(open_app("pages/train.py"), epochs=50)
        first.button(key="train.start").click().run()
        assert first.session_state["trainer"].snapshot(poll=False).active
        second.button(key="train.start").click().run()
        assert "per visitor" in texts(second.warning), texts(second.warning)
    finally:
        visitor.request_cookies = original
        for at in (locals().get("first"), locals().get("second")):
            if at is not None and at.session_state["trainer"] is not None:
                at.session_state["trainer"].stop()


def test_the_default_cap_follows_the_cores_a_container_may_use(monkeypatch):
    monkeypatch.delenv("NN_MAX_TRAININGS", raising=False)
    monkeypatch.setattr(line, "memory_slots", lambda: 1000)
    monkeypatch.setattr(line.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(line, "_cgroup_cpu_quota", lambda: 2.0)   # docker run --cpus=2
    assert max_trainings() == 2
    monkeypatch.setattr(line, "_cgroup_cpu_quota", lambda: None)  # no quota
    assert max_trainings() == 64
    monkeypatch.setenv("NN_MAX_TRAININGS", "3")
    assert max_trainings() == 3


def test_the_default_cap_also_fits_the_memory_at_the_per_run_cap(monkeypatch):
    monkeypatch.delenv("NN_MAX_TRAININGS", raising=False)
    monkeypatch.setattr(line, "cores", lambda: 8)
    monkeypatch.setattr(line, "_memory_bytes", lambda: 4 * 2**30)   # a 4 GB container
    monkeypatch.setenv("NN_MAX_RUN_MB", "1024")
    assert max_trainings() == 2, "half of 4 GB holds two 1 GB runs"
    monkeypatch.setenv("NN_MAX_RUN_MB", "4096")
    assert max_trainings() == 1, "at least one"
    monkeypatch.setenv("NN_MAX_RUN_MB", "0")                                   # no per-run cap
    assert max_trainings() == 8
