"""Issue 26, item 3: forged visitors. One client with 32 made-up tokens filled 2,016 of the
class's 2,048 MB in 15 s. Now only tokens the server issued (signed with the store's secret,
app.tokens) key a space, one client address opens at most NN_HOSTED_NEW_SPACES_PER_HOUR new
spaces an hour (app.store.admission), and the page says why a save is refused."""
import multiprocessing
import os
import stat
import time
import types

import pytest

from app import tokens, visitor
from app.store import admission, hosting
from app.store.hosting import QuotaError, Settings
from tests.conftest import open_app, texts
from tests.test_hosting import (
    files_under,
    save,
    saved_names,
    space_of,
    upload,
    write_model,
)

pytestmark = pytest.mark.timeout(180)

MADE_UP = [f"made-up-visitor-{i:02d}-0123456789abcdefghij" for i in range(32)]


def test_32_made_up_tokens_cannot_fill_the_store(tmp_path):
    data = write_model(tmp_path / "model.npz").read_bytes()
    root = tmp_path / "store"
    config = Settings(hosted=True, max_mb_total=2048)
    for token in MADE_UP:
        assert visitor.TOKEN.fullmatch(token) and not tokens.issued(token, root)
        with pytest.raises(QuotaError, match="visitor key was not given out by this server"):
            hosting.store(root, token, hosting.saved_root(root, token, True) / "mnist" / "a.npz",
                          data, config, address="203.0.113.9")
    assert hosting.total_bytes(root) == 0
    assert not (root / hosting.VISITORS).exists(), "not one space was opened"


def test_an_issued_token_is_signed_and_a_changed_one_is_not(tmp_path):
    token = tokens.issue(tmp_path)
    assert visitor.TOKEN.fullmatch(token) and len(token) == 44
    assert tokens.issued(token, tmp_path)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not tokens.issued(flipped, tmp_path)
    assert not tokens.issued(token[:22] + token[:22], tmp_path)
    assert not tokens.issued(token, tmp_path / "another store"), "another store, another secret"
    secret = tmp_path / tokens.SECRET_NAME
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.stat().st_size == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == [tokens.SECRET_NAME, "another store"], \
        "no temporary file left"


def _secret_in_a_new_process(root, start, results):
    start.wait(timeout=60)
    results.put(tokens.secret(root).hex())


def test_replicas_starting_together_make_one_secret(tmp_path):
    """Four processes sharing a store ask for its secret at once: one is made, all agree."""
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(4), spawn.Queue()
    processes = [spawn.Process(target=_secret_in_a_new_process, args=(tmp_path, start, results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    seen = {results.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(30)
    assert len(seen) == 1 and seen == {(tmp_path / tokens.SECRET_NAME).read_bytes().hex()}
    assert tokens.issued(tokens.issue(tmp_path), tmp_path)


def test_one_address_opens_at_most_the_limit_of_new_spaces_an_hour(tmp_path):
    data = write_model(tmp_path / "model.npz").read_bytes()
    root = tmp_path / "store"
    config = Settings(hosted=True)
    now = time.time()

    def save_as(token, address, when=now):
        path = hosting.saved_root(root, token, True) / "mnist" / "m.npz"
        with hosting.store_lock(root):
            hosting.check_quota(root, token, "m", len(data), config)
            if not path.parent.parent.exists():
                admission.admit_new_space(root, token, address, "m", limit=3, now=when)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    issued = [tokens.issue(root) for _ in range(5)]
    for token in issued[:3]:
        save_as(token, "198.51.100.7")
    with pytest.raises(QuotaError) as refused:
        save_as(issued[3], "198.51.100.7")
    message = str(refused.value)
    assert "3 visitors from your network address" in message and "in the last hour" in message
    assert "download this model" in message and "about 60 minutes" in message
    save_as(issued[0], "198.51.100.7")                 # an existing space: no new one needed
    save_as(issued[3], "192.0.2.1")                    # another address
    save_as(issued[4], "198.51.100.7", when=now + 3601)  # an hour later
    ledger = (root / admission.LEDGER).read_text()
    assert "198.51.100.7" not in ledger, "addresses are never written"


def test_the_forwarded_address_is_used_only_when_the_operator_trusts_it(monkeypatch):
    import streamlit
    monkeypatch.setattr(streamlit, "context", types.SimpleNamespace(
        ip_address="10.0.0.5", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}))
    monkeypatch.delenv("NN_TRUST_FORWARDED", raising=False)
    assert admission.client_address() == "10.0.0.5", "the proxy's, or a client's own header"
    monkeypatch.setenv("NN_TRUST_FORWARDED", "1")
    assert admission.client_address() == "198.51.100.7", "the one the proxy appended"


# -- the app -------------------------------------------------------------------------------------
@pytest.fixture
def hosted(app_models, monkeypatch):
    monkeypatch.setenv("NN_HOSTED", "1")
    return app_models


def test_a_made_up_cookie_gets_an_issued_token_and_the_real_flow_still_saves(hosted, monkeypatch):
    monkeypatch.setattr(visitor, "request_cookies", lambda: {visitor.COOKIE: MADE_UP[0]})
    at = open_app("pages/train.py")
    token = at.session_state["visitor"]
    assert token != MADE_UP[0] and tokens.issued(token, hosted)
    assert at.session_state["visitor_cookie"], "the browser is given the new token"
    save(upload(at), "mine")
    assert "Saved as “mine”" in texts(at.success)
    assert files_under(space_of(hosted, token)) == ["mnist", "mnist/mine.npz"]
    assert not space_of(hosted, MADE_UP[0]).exists()


def test_a_save_beyond_the_addresss_new_spaces_is_refused_on_the_page_and_nothing_is_lost(
        hosted, monkeypatch):
    monkeypatch.setenv("NN_HOSTED_NEW_SPACES_PER_HOUR", "2")
    for name in ("first", "second"):
        at = save(upload(open_app("pages/train.py")), name)
        assert f"Saved as “{name}”" in texts(at.success), texts(at.error)
    third = save(upload(open_app("pages/train.py")), "third")
    error = texts(third.error)
    assert "“third” was not saved: 2 visitors from your network address" in error, error
    assert "download this model (.npz)" in error
    assert third.session_state["user_models"]["mnist"] is not None, "the model is still theirs"
    assert saved_names(third) == [] and len(list((hosted / "visitors").iterdir())) == 2


def test_an_old_unsigned_cookie_gets_a_signed_token_and_keeps_its_work(hosted, monkeypatch):
    old = "A" * 22                                    # a token from before tokens were signed
    write_model(space_of(hosted, old) / "mnist" / "kept.npz")
    earlier = {"drawing_dataset": "fashion-mnist"}    # its session in this server's registry
    visitor._visitors[old] = {"sessions": [("earlier-session", earlier)],
                              "seen": time.monotonic()}
    try:
        monkeypatch.setattr(visitor, "request_cookies", lambda: {visitor.COOKIE: old})
        at = open_app("pages/train.py")
        token = at.session_state["visitor"]
        assert token != old and tokens.issued(token, hosted)
        assert at.session_state["drawing_dataset"] == "fashion-mnist", "its registry entry"
        assert saved_names(at) == ["kept"], "its saved models"
        assert not space_of(hosted, old).exists() and old not in visitor._visitors
    finally:
        for key in (old, at.session_state["visitor"]):
            visitor._visitors.pop(key, None)


def test_the_secret_never_reaches_a_visitor(hosted):
    at = open_app("pages/train.py")
    secret = (hosted / tokens.SECRET_NAME).read_bytes()
    shown = " ".join(str(e.value) for e in at.main if hasattr(e, "value"))
    assert secret.hex() not in shown and os.fspath(hosted) not in shown
