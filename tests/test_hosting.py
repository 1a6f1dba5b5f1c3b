"""Hosted mode (app.hosting): each visitor's saved models in their own space, quotas, cleanup.

Unit tests of the policy (spaces, listings, quotas, cleanup that never follows a symlink or leaves
``visitors/``), then AppTests of the Train page's panel and Inspect's chooser with two visitors
(two AppTests are two sessions with two tokens), and local mode as it was.
"""
import hashlib
import os
import shutil
import time

import numpy as np
import pytest

from app import tokens
from app.session import cookie_seconds
from app.store import hosting
from app.store.files import npz_bytes
from app.store.hosting import (
    TRASH_PREFIX,
    QuotaError,
    Settings,
    Usage,
    _last_clean,
    clean_old_spaces,
    clean_when_due,
    policy,
    saved_root,
    space_name,
    store,
    total_bytes,
    usage,
    visible_models,
)
from app.views.model_files import delete_selected, load_selected
from core import modelio
from core.errors import ConfigError
from core.model import MLP, ModelConfig
from core.modelio import SavedModel
from tests.conftest import open_app, texts

pytestmark = pytest.mark.timeout(120)

TOKEN_A = "A" * 22
TOKEN_B = "b-_" * 8
DAY = 86400


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """Every test starts in local mode with the default quotas and a process that never cleaned."""
    for name in ("NN_HOSTED", "NN_HOSTED_MAX_MODELS", "NN_HOSTED_MAX_MB_PER_VISITOR",
                 "NN_HOSTED_MAX_MB_TOTAL", "NN_HOSTED_KEEP_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(_last_clean, "at", None)


def tiny_saved(dataset="mnist", hidden=(8,), seed=0):
    return SavedModel(MLP(ModelConfig(hidden_sizes=hidden), np.random.default_rng(seed)), dataset,
                      metrics={"test_accuracy": 0.5})


def write_model(path, seed=0):
    return modelio.save_model(path, tiny_saved(seed=seed))


def space_of(root, token):
    return root / "visitors" / space_name(token)


def age(path, days, now):
    """Set the modification time of ``path`` (not a symlink's target) ``days`` before ``now``."""
    os.utime(path, (now - days * DAY,) * 2, follow_symlinks=False)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- settings -----------------------------------------------------------------------------------------
def test_local_mode_by_default_hosted_with_nn_hosted_and_bad_numbers_keep_their_defaults(monkeypatch):
    assert policy() == Settings()
    assert not policy().hosted
    for off in ("0", "false", "No", " off "):
        monkeypatch.setenv("NN_HOSTED", off)
        assert not policy().hosted, off
    for on in ("1", "true", "yes", "enabled"):           # anything else: the isolated side
        monkeypatch.setenv("NN_HOSTED", on)
        assert policy().hosted, on
    monkeypatch.setenv("NN_HOSTED_MAX_MODELS", "3")
    monkeypatch.setenv("NN_HOSTED_MAX_MB_PER_VISITOR", "2.5")
    monkeypatch.setenv("NN_HOSTED_KEEP_DAYS", "-1")       # not positive: the default
    monkeypatch.setenv("NN_HOSTED_MAX_MB_TOTAL", "lots")  # not a number: the default
    config = policy()
    assert (config.max_models, config.max_mb_per_visitor) == (3, 2.5)
    assert (config.keep_days, config.max_mb_total) == (7, 2048)


# -- spaces ---------------------------------------------------------------------------------------------
def test_a_space_is_named_by_a_hash_of_the_token_and_anything_else_is_refused(tmp_path):
    name = space_name(TOKEN_A)
    assert name == hashlib.sha256(TOKEN_A.encode()).hexdigest()[:32] and TOKEN_A not in name
    assert space_name(TOKEN_B) != name
    assert saved_root(tmp_path, TOKEN_A, hosted=True) == tmp_path / "visitors" / name
    assert saved_root(tmp_path, None, hosted=False) == tmp_path      # local: shared
    for bad in (None, "", "short", "../" * 10, "a/b" * 10, "A" * 65, "A" * 21 + "\n", 12345):
        with pytest.raises(ConfigError, match="reload the page"):
            saved_root(tmp_path, bad, hosted=True)


def test_hosted_a_visitor_sees_the_shipped_model_and_their_own_local_sees_the_shared_folder(
        tmp_path, monkeypatch):
    shipped = tmp_path / "app-models"                   # hosted: the app's own model/ folder
    monkeypatch.setenv("NN_SHIPPED_DIR", str(shipped))
    write_model(shipped / "mnist" / "pretrained.npz")
    write_model(tmp_path / "mnist" / "pretrained.npz")   # local: in the model folder
    write_model(tmp_path / "mnist" / "nn_parameters.npz")            # python -m core train
    write_model(tmp_path / "mnist" / "shared.npz")
    write_model(space_of(tmp_path, TOKEN_A) / "mnist" / "alpha.npz")
    write_model(space_of(tmp_path, TOKEN_B) / "mnist" / "beta.npz")
    write_model(space_of(tmp_path, TOKEN_A) / "fashion-mnist" / "gamma.npz")

    def seen(token, hosted, dataset="mnist"):
        return [(e.name, e.kind) for e in visible_models(tmp_path, dataset, token, hosted)]

    assert seen(TOKEN_A, True) == [("pretrained", "pretrained"), ("alpha", "saved")]
    assert hosting.visible_models(tmp_path, "mnist", TOKEN_A, True)[0].path == \
        shipped / "mnist" / "pretrained.npz", "hosted: the app's shipped model, not the store's"
    assert seen(TOKEN_B, True) == [("pretrained", "pretrained"), ("beta", "saved")]
    assert seen(TOKEN_A, True, "fashion-mnist") == [("gamma", "saved")]
    assert seen("not a token", True) == [("pretrained", "pretrained")]
    assert seen(None, False) == [("nn_parameters", "cli"), ("pretrained", "pretrained"),
                                 ("shared", "saved")]     # local: as before, no visitors' files


# -- quotas ---------------------------------------------------------------------------------------------
def test_usage_counts_regular_model_files_only_not_symlinks(tmp_path):
    space = space_of(tmp_path, TOKEN_A)
    write_model(space / "mnist" / "one.npz")
    write_model(space / "fashion-mnist" / "two.npz")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.npz").write_bytes(b"x" * 10_000)
    (space / "mnist" / "link.npz").symlink_to(outside / "big.npz")
    (space / "linked-folder").symlink_to(outside, target_is_directory=True)
    (space / "mnist" / "notes.txt").write_text("not a model")
    used = usage(space)
    sizes = sum(p.stat().st_size for p in (space / "mnist" / "one.npz",
                                           space / "fashion-mnist" / "two.npz"))
    assert (used.models, used.bytes) == (2, sizes)
    assert total_bytes(tmp_path) == sizes
    assert usage(tmp_path / "no such space") == Usage(0, 0)


def test_a_save_beyond_a_quota_is_refused_with_what_to_do_and_nothing_is_written(tmp_path):
    TOKEN_A, TOKEN_B = tokens.issue(tmp_path), tokens.issue(tmp_path)   # as the server issues
    data = write_model(tmp_path / "model.npz").read_bytes()
    space = space_of(tmp_path, TOKEN_A)
    config = Settings(hosted=True, max_models=2, max_mb_per_visitor=100, max_mb_total=2048)
    for name in ("one", "two"):
        store(tmp_path, TOKEN_A, space / "mnist" / f"{name}.npz", data, config)
    with pytest.raises(QuotaError) as refused:
        store(tmp_path, TOKEN_A, space / "mnist" / "three.npz", data, config)
    assert "You already have 2 saved models" in str(refused.value)
    assert "Delete one" in str(refused.value) and "download" in str(refused.value)
    assert files_under(space) == ["mnist", "mnist/one.npz", "mnist/two.npz"], "no temporary file"

    # MB per visitor: the size of the new model and of the visitor's models are said
    small = Settings(hosted=True, max_models=10, max_mb_per_visitor=len(data) * 2.5 / 2**20)
    with pytest.raises(QuotaError, match=r"takes 0\.\d MB and your saved models already take"):
        store(tmp_path, TOKEN_A, space / "mnist" / "three.npz", data, small)
    # MB in all: another visitor's space fills the server
    other = space_of(tmp_path, TOKEN_B) / "mnist"
    other.mkdir(parents=True)
    with open(other / "huge.npz", "wb") as f:
        f.truncate(3 * 2**20)                           # sparse: 3 MB on paper, nothing on disk
    full = Settings(hosted=True, max_models=10, max_mb_per_visitor=100, max_mb_total=3)
    with pytest.raises(QuotaError, match="space for saved models is full"):
        store(tmp_path, TOKEN_B, other / "mine.npz", data, full)
    assert files_under(other.parent) == ["mnist", "mnist/huge.npz"]
    assert not (space / "mnist" / "three.npz").exists()


# -- cleanup --------------------------------------------------------------------------------------------
def test_cleanup_removes_stale_spaces_only_and_never_the_shipped_models_or_anything_outside(tmp_path):
    now = time.time()
    root = tmp_path / "model"
    shipped = write_model(root / "mnist" / "pretrained.npz")
    cli = write_model(root / "mnist" / "nn_parameters.npz")
    age(shipped, 400, now)
    age(cli, 400, now)
    stale, fresh = space_of(root, TOKEN_A), space_of(root, TOKEN_B)
    for space in (stale, fresh):
        write_model(space / "mnist" / "m.npz")
    for path in (stale / "mnist" / "m.npz", stale / "mnist", stale):
        age(path, 8, now)
    age(fresh / "mnist" / "m.npz", 1, now)       # the folders are old, a file is recent
    age(fresh / "mnist", 30, now)
    age(fresh, 30, now)
    odd = root / "visitors" / "not-a-space"       # not named like a space: not ours to remove
    odd.mkdir()
    age(odd, 400, now)

    removed = clean_old_spaces(root, keep_days=7, now=now)
    assert removed == [stale.name]
    assert not stale.exists() and (fresh / "mnist" / "m.npz").is_file()
    assert shipped.is_file() and cli.is_file() and odd.is_dir()
    assert sorted(p.name for p in (root / "visitors").iterdir()) == sorted([fresh.name, odd.name])
    assert clean_old_spaces(root, keep_days=7, now=now) == []


def test_cleanup_follows_no_symlink(tmp_path):
    now = time.time()
    root = tmp_path / "model"
    precious = tmp_path / "precious"                 # outside the model folder: never touched
    write_model(precious / "mnist" / "keep.npz")
    for path in (precious / "mnist" / "keep.npz", precious / "mnist", precious):
        age(path, 400, now)
    visitors = root / "visitors"
    visitors.mkdir(parents=True)
    # a symlink named like a space, pointing out: neither followed nor removed
    link_space = visitors / space_name(TOKEN_B)
    link_space.symlink_to(precious, target_is_directory=True)
    age(link_space, 400, now)
    # a stale space holding symlinks to a file and a folder outside: the links go, not the targets
    stale = space_of(root, TOKEN_A)
    (stale / "mnist").mkdir(parents=True)
    (stale / "mnist" / "a.npz").symlink_to(precious / "mnist" / "keep.npz")
    (stale / "mnist" / "folder").symlink_to(precious / "mnist", target_is_directory=True)
    for path in (stale / "mnist" / "a.npz", stale / "mnist" / "folder", stale / "mnist", stale):
        age(path, 8, now)

    assert clean_old_spaces(root, keep_days=7, now=now) == [stale.name]
    assert not stale.exists() and link_space.is_symlink()
    assert files_under(precious) == ["mnist", "mnist/keep.npz"]

    # visitors/ itself a symlink (to a folder of old spaces): left alone
    other_root = tmp_path / "other"
    other_root.mkdir()
    (other_root / "visitors").symlink_to(precious, target_is_directory=True)
    target_space = precious / space_name(TOKEN_A)
    target_space.mkdir()
    age(target_space, 400, now)
    assert clean_old_spaces(other_root, keep_days=7, now=now) == []
    assert target_space.is_dir()


def test_cleanup_tolerates_another_process_removing_the_same_space(tmp_path, monkeypatch):
    now = time.time()
    root = tmp_path / "model"
    first, second = space_of(root, TOKEN_A), space_of(root, TOKEN_B)
    for space in (first, second):
        write_model(space / "mnist" / "m.npz")
        for path in (space / "mnist" / "m.npz", space / "mnist", space):
            age(path, 8, now)
    rename = os.rename

    def another_process_got_there_first(source, destination):
        if os.path.basename(source) == first.name:
            shutil.rmtree(source)                    # the other replica removes it meanwhile
        return rename(source, destination)
    monkeypatch.setattr(os, "rename", another_process_got_there_first)
    assert clean_old_spaces(root, keep_days=7, now=now) == [second.name]
    monkeypatch.setattr(os, "rename", rename)
    # a removal interrupted half-way (renamed, not yet deleted) is finished by the next cleanup
    leftover = root / "visitors" / f"{TRASH_PREFIX}{first.name}-0000"
    (leftover / "mnist").mkdir(parents=True)
    assert clean_old_spaces(root, keep_days=7, now=now) == []
    assert list((root / "visitors").iterdir()) == []


def test_cleanup_runs_at_startup_then_at_most_hourly_and_only_in_hosted_mode(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(hosting, "clean_old_spaces", lambda root, *a, **k: calls.append(root) or [])
    assert clean_when_due(tmp_path, now=0.0) == [] and calls == []       # local mode
    monkeypatch.setenv("NN_HOSTED", "1")
    clean_when_due(tmp_path, now=1000.0)
    clean_when_due(tmp_path, now=1000.0 + 3599)
    assert calls == [tmp_path]
    clean_when_due(tmp_path, now=1000.0 + 3601)
    assert calls == [tmp_path, tmp_path]


# -- the app ----------------------------------------------------------------------------------------------
@pytest.fixture
def hosted(app_models, monkeypatch):
    """AppTest in hosted mode, models in an empty temporary folder (returned)."""
    monkeypatch.setenv("NN_HOSTED", "1")
    return app_models


def upload(at, seed=0, name="upload.npz"):
    """Upload a tiny model on the Train page: it becomes the visitor's current model."""
    data = npz_bytes(tiny_saved(seed=seed))
    at.file_uploader(key="train.upload_mnist").set_value(
        (name, data, "application/octet-stream")).run()
    assert "Uploaded" in texts(at.success), texts(at.error)
    return at


def save(at, name):
    at.text_input(key="train.save_name").set_value(name)
    at.button(key="train.save").click().run()
    assert not at.exception, at.exception
    return at


def saved_names(at):
    boxes = [box for box in at.selectbox if box.key == "train.load_name"]
    return list(boxes[0].options) if boxes else []


def test_hosted_two_visitors_cannot_see_load_delete_or_overwrite_each_others_models(hosted):
    write_model(hosted / "mnist" / "nn_parameters.npz")          # the CLI's: not for visitors
    a = upload(open_app("pages/train.py"))
    save(a, "alpha")
    assert "Saved as “alpha”" in texts(a.success)
    alpha = space_of(hosted, a.session_state["visitor"]) / "mnist" / "alpha.npz"
    assert alpha.is_file() and saved_names(a) == ["alpha"]
    assert a.session_state["visitor"] not in str(alpha), "the token never appears on disk"
    written = alpha.read_bytes()

    b = open_app("pages/train.py")
    assert b.session_state["visitor"] != a.session_state["visitor"]
    assert saved_names(b) == [] and "No saved models yet" in texts(b.caption)
    for action in (load_selected, delete_selected):   # by name, as a
        b.session_state["train.load_name"] = "alpha"                          # forged request
        b = run_callback(b, action)
        assert "no saved MNIST model named “alpha”" in texts(b.error), texts(b.error)
        assert alpha.read_bytes() == written
    for trick in ("../../mnist/nn_parameters", "nn_parameters", "../" + a.session_state["visitor"]):
        b.session_state["train.load_name"] = trick
        b = run_callback(b, load_selected)
        assert b.error and not b.exception and "/work" not in texts(b.error), texts(b.error)
    assert b.session_state["user_models"]["mnist"] is None, "nothing of A's reached B"
    upload(b, seed=1)
    save(b, "alpha")                                  # B's own "alpha": A's is untouched
    assert "Saved as “alpha”" in texts(b.success)
    assert alpha.read_bytes() == written
    assert (space_of(hosted, b.session_state["visitor"]) / "mnist" / "alpha.npz").is_file()

    # Inspect: A sees their alpha, not B's; nobody sees the CLI's file
    a.switch_page("pages/inspect.py").run()
    options = a.selectbox(key="inspect_model").options
    assert sum(o == "Saved file: alpha" for o in options) == 1, options      # A's, not B's too
    assert not any("nn_parameters" in o for o in options), options
    a.switch_page("pages/train.py").run()
    a.selectbox(key="train.load_name").set_value("alpha")
    a.button(key="train.delete").click().run()
    assert "Deleted “alpha”" in texts(a.info) and not alpha.exists()
    assert (space_of(hosted, b.session_state["visitor"]) / "mnist" / "alpha.npz").is_file()


def run_callback(at, callback):
    """Call a Train page callback in ``at``'s session (as a click would), then rerun the page."""
    from unittest import mock

    with mock.patch("streamlit.session_state", at.session_state):
        callback()
    return at.run()


def test_hosted_the_panel_says_the_quotas_and_a_save_beyond_one_is_refused(hosted, monkeypatch):
    monkeypatch.setenv("NN_HOSTED_MAX_MODELS", "1")
    at = upload(open_app("pages/train.py"))
    caption = texts(at.caption)
    assert "private to you" in caption
    assert "keep 1 model and 100 MB here (2,048 MB for the whole class)" in caption, caption
    assert "deleted 7 days after your last save" in caption
    assert "you have used 0 of 1 model and 0.0 of 100 MB" in caption, caption
    save(at, "first")
    assert "Saved" in texts(at.success)
    assert "you have used 1 of 1 model" in texts(at.caption)
    save(at, "second")
    error = texts(at.error)
    assert "You already have 1 saved model," in error and "Delete one" in error, error
    space = space_of(hosted, at.session_state["visitor"])
    assert files_under(space) == ["mnist", "mnist/first.npz"]


def test_local_mode_is_unchanged_one_shared_folder_and_no_quota(app_models):
    write_model(app_models / "mnist" / "nn_parameters.npz")
    at = upload(open_app("pages/train.py"))
    assert "private to you" not in texts(at.caption)
    save(at, "mine")
    assert (app_models / "mnist" / "mine.npz").is_file()
    assert not (app_models / "visitors").exists()
    assert saved_names(at) == ["mine", "nn_parameters"]
    assert saved_names(open_app("pages/train.py")) == ["mine", "nn_parameters"]   # shared


def test_hosted_the_cookie_lasts_as_long_as_the_saved_models_and_is_renewed_each_session(
        hosted, monkeypatch):
    from app import visitor

    assert cookie_seconds() == 7 * 86400
    token = tokens.issue(hosted)                # a token this server gave the browser earlier
    monkeypatch.setattr(visitor, "request_cookies", lambda: {visitor.COOKIE: token})
    written = []
    script = visitor.cookie_script
    monkeypatch.setattr(visitor, "cookie_script",
                        lambda *args: written.append(script(*args)) or written[-1])
    at = open_app("pages/train.py")              # a new session of a browser that has the cookie
    assert at.session_state["visitor"] == token
    assert written, "written on the session's first run"
    assert f"{token}; path=/; max-age={7 * 86400};" in written[0]
    runs = len(written)
    at.run()
    # and on every run after it, the same script: an element on some runs only would shift the
    # page's elements between runs
    assert written == [written[0]] * (runs + 1) and at.session_state["visitor_cookie"] == "renew"
    monkeypatch.setenv("NN_HOSTED", "0")
    assert cookie_seconds() == visitor.KEEP_SECONDS
