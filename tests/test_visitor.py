"""A reload (a new session of the same browser) finds the visitor's work again (app.visitor);
a visitor who left is forgotten after the keep time (NN_VISITOR_KEEP_SECONDS), and then nothing
of theirs stays in memory."""
import gc
import os
import subprocess
import sys
import time
import weakref
from collections import OrderedDict
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import visitor
from app.inputs.form import FORM_KEYS, preset_settings
from app.runs.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def app_env(app_models):
    return app_models


def open_app(monkeypatch, cookies):
    monkeypatch.setattr(visitor, "request_cookies", lambda: dict(cookies))
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    return at


def test_a_reload_finds_the_run_its_curves_settings_and_model(monkeypatch, app_env):
    at = open_app(monkeypatch, {})
    token = at.session_state["visitor"]
    assert visitor.TOKEN.fullmatch(token) and at.session_state["visitor_cookie"]
    at.switch_page("pages/train.py").run()
    at.text_input(key="train.hidden").set_value("24")
    at.number_input(key="train.epochs").set_value(1)
    at.number_input(key="train.validation_size").set_value(1000).run()
    at.button(key="train.start").click().run()
    trainer = at.session_state["trainer"]
    assert trainer.join(60)
    at.run()
    model = at.session_state["user_models"]["mnist"]
    assert model is not None

    again = open_app(monkeypatch, {visitor.COOKIE: token})          # the same browser, reloaded
    assert again.session_state["visitor"] == token and not again.session_state["visitor_cookie"]
    assert again.session_state["trainer"] is trainer, "the run"
    assert again.session_state["runs"] == at.session_state["runs"], "its curves"
    assert again.session_state["user_models"]["mnist"] is model, "its model"
    again.switch_page("pages/train.py").run()
    assert again.text_input(key="train.hidden").value == "24", "the settings"
    assert "Test accuracy" in " ".join(e.value for e in again.success)
    assert not again.exception


def test_a_reload_takes_the_settings_the_earlier_session_published(monkeypatch, app_env):
    """The earlier session's thread may be tearing its state down (its widgets' values gone)
    just as the reload reads it: the settings come from the copy it published at its last run."""
    at = open_app(monkeypatch, {})
    token = at.session_state["visitor"]
    at.switch_page("pages/train.py").run()
    at.text_input(key="train.hidden").set_value("24, 12").run()
    for key in FORM_KEYS:                      # the earlier session, caught mid-teardown
        del at.session_state[key]
    again = open_app(monkeypatch, {visitor.COOKIE: token})
    again.switch_page("pages/train.py").run()
    assert again.text_input(key="train.hidden").value == "24, 12"
    assert not again.exception


def test_another_browser_or_a_forged_cookie_starts_afresh(monkeypatch, app_env):
    first = open_app(monkeypatch, {})
    first.session_state["drawing_dataset"] = "mnist"
    other = open_app(monkeypatch, {visitor.COOKIE: "not a token; path=/"})
    assert other.session_state["visitor"] != first.session_state["visitor"]
    assert other.session_state["drawing_dataset"] is None
    assert other.session_state["visitor_cookie"], "a new token to store"


def test_the_cookie_script_only_ever_holds_a_token():
    assert visitor.COOKIE in visitor.cookie_script("a" * 22)
    with pytest.raises(ValueError):
        visitor.cookie_script("x'; alert(1); '")


def test_every_setting_of_the_form_is_kept():
    assert set(FORM_KEYS) == {"train." + name for name in preset_settings("recommended", 1000)}


def test_the_keep_time_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("NN_VISITOR_KEEP_SECONDS", raising=False)
    assert visitor.keep_seconds() == visitor.DEFAULT_KEEP_SECONDS == 1800
    for value, expected in [("20", 20), ("0", 1), ("soon", 1800)]:
        monkeypatch.setenv("NN_VISITOR_KEEP_SECONDS", value)
        assert visitor.keep_seconds() == expected, value
    # the server reads it once, when app.visitor is imported; the cookie lives as long
    env = {**os.environ, "NN_VISITOR_KEEP_SECONDS": "20"}
    out = subprocess.run([sys.executable, "-c", "from app import visitor; "
                          "print(visitor.KEEP_SECONDS, visitor.sweep_seconds(), "
                          "'max-age=20;' in visitor.cookie_script('a' * 22))"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["20", "5.0", "True"], out.stderr


class Work:
    """Something a visitor's session holds (a model, a trainer): weakly referable."""


@pytest.fixture
def registry(monkeypatch):
    """An empty visitor registry; ``registry(session_id, state)`` makes that the session whose
    script runs next (as the server's script-run context would say)."""
    monkeypatch.setattr(visitor, "_visitors", OrderedDict())
    running = {}
    monkeypatch.setattr(visitor, "_context",
                        lambda: (running["id"], running.pop("state"), {}))

    def run_as(session_id, state):
        running.update(id=session_id, state=state)
    return run_as


def test_a_forgotten_visitors_work_is_released(registry):
    state = {"trainer": Work(), "user_models": {"mnist": Work()}}
    kept = [weakref.ref(state["trainer"]), weakref.ref(state["user_models"]["mnist"])]
    registry("session-1", state)
    token, _ = visitor.bind(state, [])
    del state                                  # the session is gone; the registry keeps its work
    gc.collect()
    assert all(ref() is not None for ref in kept), "kept for a reload"
    assert visitor.forget_old(time.monotonic() + visitor.KEEP_SECONDS / 2) == 0
    assert visitor.forget_old(time.monotonic() + visitor.KEEP_SECONDS + 1) == 1
    gc.collect()
    assert [ref() for ref in kept] == [None, None], "forgotten, nothing of it stays"
    assert token not in visitor._visitors and not visitor.connected(token)


def test_a_visitor_still_connected_is_not_forgotten(registry, monkeypatch):
    """A tab watching a long run only reruns its fragments (not seen), but it is still there."""
    registry("watching", {"trainer": Work()})
    token, _ = visitor.bind({}, [])
    monkeypatch.setattr(visitor, "_active_sessions", lambda: lambda sid: sid == "watching")
    later = time.monotonic() + visitor.KEEP_SECONDS + 1
    assert visitor.forget_old(later) == 0 and token in visitor._visitors
    monkeypatch.setattr(visitor, "_active_sessions", lambda: lambda sid: False)   # tab closed
    assert visitor.forget_old(later + 1) == 0, "seen when last found connected"
    assert visitor.forget_old(later + visitor.KEEP_SECONDS + 2) == 1


def test_the_registry_holds_the_session_state_not_the_wrapper_of_one_run():
    from streamlit.runtime.state import SafeSessionState, SessionState

    inner = SessionState()
    runner = Work()                            # what the wrapper's yield callback refers to
    wrapper = SafeSessionState(inner, yield_callback=lambda: runner)
    assert visitor._unwrapped(wrapper) is inner
    assert visitor._unwrapped(inner) is inner


def test_the_sweeper_forgets_and_then_releases_the_memory(registry, monkeypatch):
    registry("session-1", {"trainer": Work()})
    token, _ = visitor.bind({}, [])
    visitor._visitors[token]["seen"] -= visitor.KEEP_SECONDS + 1          # left long ago
    released = []
    monkeypatch.setattr(visitor, "_release_memory", lambda: released.append(True))
    assert visitor.sweep() == (1, 0) and released == [True]
    assert visitor.sweep() == (0, 0) and released == [True], "nothing freed: no collection"


def test_streamlits_expired_closed_sessions_are_dropped_without_another_closing(monkeypatch):
    """Streamlit's session storage removes expired sessions only on its next write; the sweeper
    asks it to, on the server's event loop (run at once here), holding the manager's lock."""
    import threading
    from types import SimpleNamespace

    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.ttl_cache import TTLCache
    from streamlit.runtime.memory_session_storage import MemorySessionStorage

    clock = [0.0]
    storage = MemorySessionStorage(maxsize=8, ttl_seconds=120)
    storage._cache = TTLCache(maxsize=8, ttl=120, timer=lambda: clock[0])
    work = Work()
    storage.save(SimpleNamespace(session=SimpleNamespace(id="closed", work=work)))
    ref = weakref.ref(work)
    del work
    loop = SimpleNamespace(call_soon_threadsafe=lambda callback: callback())
    runtime = SimpleNamespace(
        _session_mgr=SimpleNamespace(_session_storage=storage, _storage_lock=threading.Lock()),
        _get_async_objs=lambda: SimpleNamespace(eventloop=loop))
    monkeypatch.setattr(Runtime, "exists", lambda: True)
    monkeypatch.setattr(Runtime, "instance", lambda: runtime)
    assert visitor._expire_closed_sessions() == 0, "not expired yet"
    clock[0] = 121.0
    assert storage.get("closed") is None and ref() is not None, "expired, yet still held"
    assert visitor._expire_closed_sessions() == 1
    gc.collect()
    assert ref() is None


def test_the_replay_of_a_visitor_who_left_is_freed_but_the_model_and_curves_stay(registry):
    from core.model import ModelConfig
    from core.training import TrainConfig
    from tests.helpers.splits import random_splits

    splits = random_splits(300, validation=50, test=50)
    trainer = Trainer()
    trainer.start(ModelConfig(hidden_sizes=(8,)), TrainConfig(iterations=20, batch_size=30), splits)
    assert trainer.join(30)
    registry("session-1", {"trainer": trainer})
    token, _ = visitor.bind({}, [])
    before = trainer.snapshot()
    assert len(before.snapshots) and before.saved is not None
    assert visitor.release_replays() == 0, "the visitor has just been here"
    later = time.monotonic() + visitor.REPLAY_KEEP_SECONDS + 1
    assert visitor.release_replays(later) == before.snapshots.nbytes > 0
    after = trainer.snapshot()
    assert not len(after.snapshots) and after.snapshots.refused == visitor.REPLAY_FREED
    assert after.saved is before.saved and after.history == before.history
    assert token in visitor._visitors, "still remembered for a reload"
