"""Bad inputs through the pages (AppTest): each one trains, or the page says clearly what is wrong.

Train page: a validation split of 0% and of 100%, a batch larger than the training set, a
million iterations, zero hidden units, model names that try to leave model/, and a save that fails
half-way (full disk). Draw page: uploads of every awkward kind (a 10,000 x 10,000 PNG, a 1 x 1
PNG, an animated GIF, a CMYK JPEG, a 16-bit PNG, a decompression bomb). Never an exception on
screen. (Non-image and empty uploads are in tests/test_app_draw.py; model files in
tests/test_modelio.py and tests/test_fuzz.py: no page accepts a model upload.)
"""
import errno
import io
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.model import MLP, ModelConfig
from core.modelio import SavedModel
from tests.conftest import (
    metric,
    needs_model,
    open_app,
    run_until_finished,
    texts,
    tiny_run,
    trainings_left,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def app_env(shipped_models):
    """Offline, st.navigation mode, a copy of the shipped models (tests/conftest.py), and no
    training left running afterwards."""
    yield shipped_models
    assert trainings_left() == 0, "a training outlived its test"


# -- Train page -------------------------------------------------------------------------------------
def train_page(**tiny_settings):
    return tiny_run(open_app("pages/train.py"), **tiny_settings)


def training_images(at):
    """The number of training images of the loaded dataset, as the page states it."""
    match = re.search(r"([\d,]+) training", texts(at.caption))
    assert match, texts(at.caption)
    return int(match.group(1).replace(",", ""))


def plan_text(at):
    return next((c.value for c in at.caption if "Plan:" in c.value), "")


def outcome(at):
    """What the page says about the finished run: a success, or a warning when the run is worse
    than the model it replaced (the shipped one, in these tests)."""
    return texts(at.success) + texts(at.warning)


def test_no_validation_set_trains_and_says_so_instead_of_nan():
    at = train_page(validation=0)
    assert not at.error, texts(at.error)
    at.button(key="train.start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    at = run_until_finished(at)
    assert not at.exception, at.exception
    done = outcome(at)
    assert "Test accuracy" in done, texts(at.error)
    assert "nan" not in done.lower(), f"the page shows a NaN: {done!r}"
    assert "nan" not in " ".join(m.value for m in at.metric).lower()


def test_every_training_image_held_out_for_validation_is_refused_before_start():
    at = train_page()
    n_train = training_images(at)
    if n_train > 50_000:
        pytest.skip("the full dataset is loaded: the control stops at 50,000 (leaving 10,000)")
    at.number_input(key="train.validation_size").set_value(n_train).run()
    assert not at.exception
    assert "leaves none" in texts(at.error), texts(at.error)
    assert at.button(key="train.start").disabled


def test_a_batch_larger_than_the_training_set_uses_the_whole_set():
    at = train_page(batch=4096)
    n_train = training_images(at)
    at.number_input(key="train.validation_size").set_value(n_train - 1000).run()
    assert "steps of 1,000 images" in plan_text(at), plan_text(at)
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    assert not at.exception and not at.error, texts(at.error)
    assert "Test accuracy" in outcome(at)


def test_a_million_iterations_runs_with_its_length_on_screen_and_stops_on_request():
    at = train_page()
    at.radio(key="train.length_unit").set_value("iterations").run()
    at.number_input(key="train.iterations").set_value(1_000_000).run()
    assert "1,000,000 steps" in plan_text(at), plan_text(at)
    assert not at.error
    at.button(key="train.start").click().run()
    trainer = at.session_state["trainer"]
    end = time.monotonic() + 20
    while not trainer.snapshot(poll=False).history and time.monotonic() < end:
        time.sleep(0.2)
    at.run()
    progress = " ".join(p.proto.text for p in at.get("progress"))
    assert "of 1,000,000" in progress and "left" in progress, progress
    at.button(key="train.stop").click().run()
    assert trainer.join(10.0), "Stop must end a million-step run, not let it run on"
    at = run_until_finished(at)
    assert "Stopped at step" in outcome(at)


@pytest.mark.parametrize("hidden", ["0", "16, 0", "-5"])
def test_zero_hidden_units_are_refused_with_the_allowed_range(hidden):
    at = train_page(hidden=hidden)
    assert at.error and ("1 to" in texts(at.error) or "whole numbers" in texts(at.error))
    assert at.button(key="train.start").disabled
    assert not at.exception


def with_a_model(at):
    """Give the session a model of its own, as after a training, without waiting for one."""
    model = MLP(ModelConfig(hidden_sizes=(8,)), np.random.default_rng(0))
    saved = SavedModel(model=model, dataset="mnist", metrics={"test_accuracy": 0.5})
    at.session_state["user_models"] = {"mnist": (saved, "your run 1"), "fashion-mnist": None}
    return at.run()


def files_under(folder):
    """Every file under ``folder`` but the visitor tokens' secret (app.tokens keeps it in the
    store)."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                  if p.is_file() and p.name != ".visitor-secret")


# one name of each kind; every other trick is refused by the same check in tests/test_modelio.py
@pytest.mark.parametrize("name", ["../x", "mnist/../../x", "/abs", "a\x00b", "pretrained",
                                  " "])
def test_model_names_cannot_escape_the_model_folder(name, app_env, tmp_path):
    before = files_under(tmp_path)
    at = with_a_model(open_app("pages/train.py"))
    at.text_input(key="train.save_name").set_value(name)
    at.button(key="train.save").click().run()
    assert not at.exception, at.exception
    assert at.error, f"{name!r} was not refused"
    assert files_under(tmp_path) == before, "nothing may be written for a refused name"


def test_a_300_character_name_is_cut_by_the_field_and_stays_inside_model(app_env, tmp_path):
    """The field takes at most 64 characters; the name the page receives is saved in model/mnist."""
    before = files_under(tmp_path)
    at = with_a_model(open_app("pages/train.py"))
    at.text_input(key="train.save_name").set_value("x" * 300)
    at.button(key="train.save").click().run()
    assert not at.exception, at.exception
    assert sorted(set(files_under(tmp_path)) - set(before)) == [f"model/mnist/{'x' * 64}.npz"]


def test_a_good_name_is_saved_inside_model_and_never_overwritten(app_env):
    at = with_a_model(open_app("pages/train.py"))
    at.text_input(key="train.save_name").set_value("  my net.v2  ")
    at.button(key="train.save").click().run()
    assert "Saved" in texts(at.success), texts(at.error)
    path = app_env / "mnist" / "my net.v2.npz"
    assert path.is_file()
    first = path.read_bytes()
    at.button(key="train.save").click().run()
    assert "already exists" in texts(at.error)
    assert path.read_bytes() == first
    assert not [p for p in app_env.rglob("*") if p.name.endswith(".tmp")]


def test_a_save_that_fails_half_way_leaves_no_partial_file(app_env, monkeypatch):
    """A full disk in the middle of writing: a clear message, no file, no debris."""
    import core.modelio as modelio

    def full_disk(f, **arrays):
        f.write(b"PK\x03\x04 half a model")
        raise OSError(errno.ENOSPC, "No space left on device")
    at = with_a_model(open_app("pages/train.py"))
    monkeypatch.setattr(modelio.np, "savez_compressed", full_disk)
    at.text_input(key="train.save_name").set_value("doomed")
    at.button(key="train.save").click().run()
    assert not at.exception, at.exception
    assert "No space left" in texts(at.error), texts(at.error)
    assert not (app_env / "mnist" / "doomed.npz").exists()
    assert not [p.name for p in (app_env / "mnist").iterdir() if p.name.startswith(".doomed")]


# -- Draw page uploads ---------------------------------------------------------------------------------
def encode(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def digit_one(size=60, mode="L"):
    image = Image.new("L", (size, size), 0)
    image.paste(255, (size * 4 // 9, size // 6, size * 5 // 9, size * 5 // 6))
    return image if mode == "L" else image.convert(mode)


def png_claiming(width, height):
    """A 100-byte PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000, 9)) + chunk(b"IEND", b""))


def animated_gif():
    frames = [digit_one(40), Image.new("L", (40, 40), 0), digit_one(40)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def sixteen_bit_png():
    array = np.asarray(digit_one(60), np.uint16) * 257            # 0..65535
    return encode(Image.fromarray(array))


def upload(at, name, data, mime="image/png"):
    at.file_uploader(key="draw_upload").set_value((name, data, mime))
    return at.run()


@pytest.mark.parametrize("name, make, mime, answer", [
    ("huge.png", lambda: encode(Image.new("L", (10_000, 10_000), 255)), "image/png", "megapixels"),
    ("bomb.png", lambda: png_claiming(100_000, 100_000), "image/png", "megapixels"),
    ("wide-bomb.png", lambda: png_claiming(2**31 - 1, 1), "image/png", "error"),
    ("anim.gif", animated_gif, "image/gif", "animation"),
    ("cmyk.jpg", lambda: encode(digit_one(60, "RGB").convert("CMYK"), "JPEG", quality=95),
     "image/jpeg", "guess"),
    ("deep.png", sixteen_bit_png, "image/png", "guess"),
    ("dot.png", lambda: encode(Image.new("L", (1, 1), 255)), "image/png", "empty"),
    ("black-dot.png", lambda: encode(Image.new("L", (1, 1), 0)), "image/png", "empty"),
    ("text.png", lambda: b"GIF89a but really just text", "image/png", "error"),
])
@needs_model
def test_awkward_uploads_get_a_sensible_answer_or_a_clear_error(name, make, mime, answer):
    at = upload(open_app("pages/draw.py"), name, make(), mime)
    assert not at.exception, at.exception
    guess = metric(at, "Prediction")
    if answer == "guess":
        assert not at.error, texts(at.error)
        assert guess == "1", f"{name}: {guess!r}"
    elif answer == "empty":
        assert not at.error, texts(at.error)
        assert guess is None, "a one-colour picture is blank paper: no guess"
        assert "looks blank" in texts(at.warning) and name in texts(at.warning), \
            "the page says the picture is blank (not 'draw a digit')"
    else:
        assert at.error, f"{name} must be refused with a message"
        assert guess is None
        if answer != "error":
            assert answer in texts(at.error), texts(at.error)
        assert name in texts(at.error), "the message names the file"
    # the page keeps working: back to the canvas, the upload is forgotten
    at.file_uploader(key="draw_upload").set_value(None).run()
    assert not at.exception and not at.error, texts(at.error)
