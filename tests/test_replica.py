"""Runs in progress recorded in the shared store (app.replica), so that a visitor who lands on
another replica after theirs stopped is told plainly that the run was lost and their saved models
are safe. The whole story with real replicas behind HAProxy: tests/test_load_balancer.py."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from app import replica

from app.store import hosting
from app.runs.trainer import Trainer
from core.model import ModelConfig
from core.training import TrainConfig
from tests.conftest import open_app, texts, trainings_left, wait_for

pytestmark = pytest.mark.timeout(60)

TOKEN = "replica-test-visitor-0001"


@pytest.fixture
def hosted_store(tmp_path, monkeypatch):
    monkeypatch.setenv("NN_HOSTED", "1")
    monkeypatch.setenv("NN_MODEL_DIR", str(tmp_path))
    return tmp_path


def marks(root, token=TOKEN):
    return sorted((hosting.saved_root(root, token, True) / replica.RUNS).glob("*.json"))


def as_another_replica(monkeypatch):
    monkeypatch.setattr(replica, "REPLICA", "other-host-1-beef")


def test_local_mode_and_sessions_without_a_token_record_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NN_HOSTED", raising=False)
    assert replica.record_run(f"visitor:{TOKEN}", "run 1", tmp_path) is None
    assert replica.lost_notice(tmp_path, TOKEN) is None
    monkeypatch.setenv("NN_HOSTED", "1")
    assert replica.record_run("session:abc", "run 1", tmp_path) is None
    assert replica.record_run("visitor:not a token", "run 1", tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_mark_lives_while_its_run_does_and_costs_no_quota(hosted_store):
    mark = replica.record_run(f"visitor:{TOKEN}", "run 1")
    assert marks(hosted_store) == [mark]
    record = json.loads(mark.read_text())
    assert record["replica"] == replica.REPLICA and record["label"] == "run 1"
    assert hosting.usage(hosting.saved_root(hosted_store, TOKEN, True)) == hosting.Usage(0, 0)
    assert replica.lost_notice(hosted_store, TOKEN) is None, "this replica still has the run"
    assert marks(hosted_store) == [mark]
    replica.end_run(mark)
    replica.end_run(mark)                                 # twice, or after another took it: fine
    assert marks(hosted_store) == []


def test_another_replica_tells_the_visitor_once_that_the_run_was_lost(hosted_store, monkeypatch):
    replica.record_run(f"visitor:{TOKEN}", "run 3")       # on this replica, which then dies
    as_another_replica(monkeypatch)
    notice = replica.lost_notice(hosted_store, TOKEN)
    assert notice == ("Your run in progress (“run 3”) was lost when its server stopped; your "
                      "saved models are safe. Start it again on the Train page.")
    assert marks(hosted_store) == [] and replica.lost_notice(hosted_store, TOKEN) is None
    assert replica.lost_notice(hosted_store, "someone-else-entirely-01") is None


def test_a_run_that_ends_removes_its_mark_however_it_ends(hosted_store):
    rng = np.random.default_rng(0)
    X = rng.random((400, 784), dtype=np.float32)
    y = rng.integers(0, 10, 400)
    splits = SimpleNamespace(X_train=X, y_train=y, X_val=X[:100], y_val=y[:100], X_test=X[:100],
                             y_test=y[:100], scaling="unit")
    t = Trainer()
    t.start(ModelConfig(hidden_sizes=(8,)), TrainConfig(learning_rate=0.1, iterations=1_000_000,
                                                         batch_size=32), splits,
            visitor=f"visitor:{TOKEN}", label="long run")
    assert wait_for(lambda: len(t.snapshot().history) >= 2), t.snapshot().message
    [mark] = marks(hosted_store)
    assert json.loads(mark.read_text())["label"] == "long run"
    t.stop()
    assert t.join(15) and trainings_left(5) == 0
    assert marks(hosted_store) == [], "a stopped run leaves no mark"


def test_the_page_says_it_until_the_visitor_dismisses_it(app_models, monkeypatch):
    from app import tokens, visitor
    monkeypatch.setenv("NN_HOSTED", "1")
    token = tokens.issue(app_models)                      # the browser's, issued by the server
    monkeypatch.setattr(visitor, "request_cookies", lambda: {visitor.COOKIE: token})
    replica.record_run(f"visitor:{token}", "run 2", app_models)
    as_another_replica(monkeypatch)                       # this process is now another replica
    at = open_app("pages/draw.py")
    assert "Your run in progress (“run 2”) was lost when its server stopped; your saved models " \
           "are safe." in texts(at.warning), texts(at.warning)
    at.switch_page("pages/train.py").run()
    assert "was lost when its server stopped" in texts(at.warning), "shown on every page"
    at.button(key="lost_run_seen").click().run()
    assert "was lost" not in texts(at.warning) and not at.exception
    assert "was lost" not in texts(open_app("pages/draw.py").warning), "told once"
