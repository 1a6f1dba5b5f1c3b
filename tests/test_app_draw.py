"""The Draw page in AppTest, and its helpers (upload decoding, enlarging; its chart is tested in
tests/test_charts.py).

A drawing is simulated the way the browser sends it: the canvas component's value, set through
session_state under the canvas key, holds a PNG data URL of the 280x280 RGBA canvas.
"""
import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from app.inputs import pictures
from app.inputs.pictures import decode_upload
from app.render.images import enlarge
from core.errors import DrawingError
from tests.conftest import ROOT, metric, needs_model, open_app, texts

pytestmark = pytest.mark.timeout(60)
CANVAS = "draw_canvas_0"                      # the canvas key before any Clear


@pytest.fixture(autouse=True)
def app_env(shipped_models):
    """Offline, st.navigation mode and a copy of the shipped models (tests/conftest.py)."""
    return shipped_models


# -- drawings, as the canvas sends them -----------------------------------------------------------
def canvas_rgba(shape):
    """A 280x280 black RGBA canvas with white strokes: "1" (a vertical bar), "0" (a ring),
    "7" (a bar and a diagonal), or "blank"."""
    yy, xx = np.mgrid[0:280, 0:280]
    if shape == "1":
        ink = (np.abs(xx - 140) <= 10) & (yy >= 40) & (yy <= 240)
    elif shape == "0":
        r = np.hypot((xx - 140) / 70.0, (yy - 140) / 100.0)
        ink = np.abs(r - 1.0) <= 0.13
    elif shape == "7":
        top = (np.abs(yy - 50) <= 10) & (xx >= 70) & (xx <= 210)
        t = (yy - 50) / 180.0
        diagonal = (t >= 0) & (t <= 1) & (np.abs(xx - (210 - 80 * t)) <= 10)
        ink = top | diagonal
    else:
        ink = np.zeros((280, 280), bool)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[ink, :3] = 255
    return rgba


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def draw(at, shape, key=CANVAS):
    """Set the canvas component's value as the browser would after a stroke, and rerun."""
    url = "data:image/png;base64," + base64.b64encode(png_bytes(canvas_rgba(shape))).decode()
    at.session_state[key] = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url},
                             "backgroundFit": None}
    return at.run()


def draw_page(dataset="mnist"):
    return open_app("pages/draw.py", dataset)


def prediction(at):
    return metric(at, "Prediction")


# -- the page ----------------------------------------------------------------------------------------
def test_empty_canvas_invites_to_draw_and_guesses_nothing():
    at = draw_page()
    assert prediction(at) is None
    assert any("Draw a digit" in info.value for info in at.info)
    assert at.session_state["drawing_pixels"] is None
    assert not at.error


@needs_model
@pytest.mark.parametrize("shape", ["1", "0", "7"])
def test_a_drawn_digit_is_recognised_and_kept_for_training(shape):
    at = draw(draw_page(), shape)
    assert not at.exception, at.exception
    assert prediction(at) == shape
    confidence = metric(at, "Confidence")
    assert confidence.endswith("%") and int(confidence[:-1]) >= 50
    assert len(at.get("vega_lite_chart")) == 1, "the probability bars"
    pixels = at.session_state["drawing_pixels"]
    assert pixels.shape == (784,) and pixels.max() == pytest.approx(1.0)
    assert at.session_state["drawing_dataset"] == "mnist"


@needs_model
def test_clear_empties_the_canvas_and_forgets_the_drawing():
    at = draw(draw_page(), "1")
    at.button[0].click().run()                # "Clear"
    assert at.session_state["draw_canvas_version"] == 1
    assert prediction(at) is None
    assert at.session_state["drawing_pixels"] is None
    at = draw(at, "0", key="draw_canvas_1")   # the new canvas works
    assert prediction(at) == "0"


@needs_model
def test_preprocessing_steps_show_and_every_option_can_be_switched_off():
    at = draw(draw_page(), "1")
    assert len(at.get("image")) == 1, "what the network receives; the steps only when open"
    at.session_state["draw_steps_open"] = True          # the user opens the expander
    at.run()
    assert len(at.get("image")) >= 4, "what the network receives and each step of the pipeline"
    assert "Server time for this update" in texts(at.caption)
    for toggle in at.toggle:
        toggle.set_value(not toggle.value)
    at.run()
    assert not at.exception, at.exception
    assert prediction(at) is not None       # still a guess (maybe a worse one: that is the point)


@needs_model
def test_blank_canvas_after_a_stroke_is_empty_again():
    at = draw(draw_page(), "blank")
    assert prediction(at) is None
    assert any("Draw a digit" in info.value for info in at.info)


@needs_model
def test_random_test_image_is_classified_with_its_label():
    at = draw_page()
    at.button[1].click().run()                # "Test image"
    assert not at.exception, at.exception
    assert prediction(at) is not None
    assert any("Test image #" in md.value for md in at.markdown)
    assert at.session_state["draw_source"] == "test"
    at = draw(at, "1")                        # drawing again switches back (on_change in a browser)
    at.session_state["draw_source"] = "canvas"
    assert prediction(at.run()) == "1"


@needs_model
def test_uploaded_picture_goes_through_the_same_pipeline():
    at = draw_page()
    paper = np.full((120, 90), 250, np.uint8)                 # dark "1" on light paper
    paper[15:105, 40:52] = 20
    at.file_uploader(key="draw_upload").set_value(("one.png", png_bytes(paper), "image/png")).run()
    assert not at.exception, at.exception
    assert not at.error
    assert prediction(at) == "1"


@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"this is not an image at all", "not an image"),
    ("empty.png", b"", "empty"),
])
def test_a_bad_upload_shows_an_error_not_a_traceback(name, content, message):
    at = draw_page()
    at.file_uploader(key="draw_upload").set_value((name, content, "image/png")).run()
    assert not at.exception, at.exception
    assert at.error and message in at.error[0].value
    assert prediction(at) is None


def test_without_any_model_the_page_says_so_and_links_to_train(app_env):
    shutil.rmtree(app_env, ignore_errors=True)
    at = draw(draw_page(), "1")
    assert not at.exception, at.exception
    assert prediction(at) is None
    assert at.warning and "Train" in at.warning[0].value
    assert any("Train" in link.label for link in at.get("page_link"))


@pytest.mark.skipif(not (ROOT / "model" / "fashion-mnist" / "pretrained.npz").exists(),
                    reason="the shipped Fashion-MNIST model is not built yet")
def test_fashion_guesses_are_class_names():
    from core.datasets import CLASS_NAMES
    at = draw(draw_page("fashion-mnist"), "0")
    assert prediction(at) in CLASS_NAMES["fashion-mnist"]
    chart = at.get("vega_lite_chart")[0].proto.SerializeToString()     # spec and its data
    assert b"Ankle boot" in chart and b"T-shirt/top" in chart
    # Fashion-MNIST's own preprocessing: the picture fills the square, centred by its box
    assert at.toggle(key="draw_opt_fashion-mnist_fit_box").label == "Fit a 28x28 box"
    assert not at.toggle(key="draw_opt_fashion-mnist_center_of_mass").value
    assert not at.toggle(key="draw_opt_fashion-mnist_normalize_stroke").value
    assert any("Fashion-MNIST's pictures were made" in m.value for m in at.markdown)


# -- helpers -------------------------------------------------------------------------------------------
def test_decode_refuses_animations_and_decompression_bombs(monkeypatch):
    frames = [Image.new("L", (20, 20), v) for v in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(DrawingError, match="animation"):
        decode_upload(buffer.getvalue())
    small = png_bytes(np.zeros((40, 40), np.uint8))
    monkeypatch.setattr(pictures, "MAX_UPLOAD_PIXELS", 1000)
    with pytest.raises(DrawingError, match="megapixels"):
        decode_upload(small)
    monkeypatch.setattr(pictures, "MAX_UPLOAD_PIXELS", 50_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)         # PIL's own guard
    with pytest.raises(DrawingError, match="pixels"):
        decode_upload(small)
    monkeypatch.setattr(pictures, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(DrawingError, match="MB"):
        decode_upload(small)


def test_decode_refuses_other_formats_and_truncated_files():
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="TIFF")
    with pytest.raises(DrawingError, match="TIFF"):
        decode_upload(buffer.getvalue())
    with pytest.raises(DrawingError):
        decode_upload(png_bytes(np.zeros((50, 50), np.uint8))[:60])


def test_decode_converts_cmyk_16_bit_palette_and_transparency():
    digit = np.zeros((30, 30), np.uint8)
    digit[5:25, 13:17] = 255
    # CMYK JPEG, white stroke on black
    cmyk = Image.fromarray(digit).convert("RGB").convert("CMYK")
    buffer = io.BytesIO()
    cmyk.save(buffer, format="JPEG", quality=95)
    grey = decode_upload(buffer.getvalue())
    assert grey.dtype == np.uint8 and grey.shape == (30, 30)
    assert grey[15, 15] > 200 and grey[15, 3] < 50
    # 16-bit greyscale PNG: 65535 -> 255
    buffer = io.BytesIO()
    Image.fromarray(digit.astype(np.uint16) * 257).save(buffer, format="PNG")
    grey = decode_upload(buffer.getvalue())
    assert grey[15, 15] == 255 and grey[15, 3] == 0
    # palette image
    buffer = io.BytesIO()
    Image.fromarray(digit).convert("P").save(buffer, format="PNG")
    assert decode_upload(buffer.getvalue())[15, 15] > 200
    # black ink on a transparent background: the background becomes white paper
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[5:25, 13:17, 3] = 255
    grey = decode_upload(png_bytes(rgba))
    assert grey[15, 15] < 50 and grey[15, 3] > 200


def test_enlarge_uses_whole_pixels():
    image = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    big = enlarge(image, 10)
    assert big.shape == (10, 10) and big.dtype == np.uint8
    assert (big[:5, :5] == 0).all() and (big[:5, 5:] == 255).all() and (big[5:, :5] == 128).all()
    assert enlarge(np.zeros((280, 280)), 100).shape == (280, 280)
    tall = enlarge(np.ones((30, 10), np.float32), 60, square=True)     # a cropped "1"
    assert tall.shape == (60, 60) and tall[:, :20].max() == 0 and tall[:, 20:40].min() == 255


@needs_model
def test_it_says_when_it_reads_a_test_image_and_goes_back_to_the_canvas():
    at = draw(draw_page(), "1")
    assert "not the canvas" not in texts(at.info)
    next(b for b in at.button if b.label == "Test image").click().run()
    assert "reading a test image, not the canvas" in texts(at.info)
    at.button(key="draw_back_to_canvas").click().run()
    assert at.session_state["draw_source"] == "canvas"
    assert "not the canvas" not in texts(at.info)
    assert prediction(at) == "1"


# -- after a run: the visitor's model beside the shipped one (issue 21, item 5) --------------------
def trained_then_draw(hidden="4"):
    """A tiny (poor) run trained on the Train page, then Draw with a 7 on the canvas."""
    from tests.conftest import run_until_finished, tiny_run
    at = tiny_run(open_app("pages/train.py"), hidden=hidden)
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    at.switch_page("pages/draw.py").run()
    return draw(at, "7")


@needs_model
def test_before_any_run_draw_shows_one_model_and_no_comparison():
    at = draw(draw_page(), "7")
    assert prediction(at) == "7"
    assert not any(m.label.endswith(" says") for m in at.metric)
    assert "In use:" not in texts(at.markdown)


@needs_model
def test_after_a_run_its_guess_is_beside_the_pretrained_one_and_in_use_is_said():
    at = trained_then_draw()
    assert not at.exception, at.exception
    label = at.session_state["user_models"]["mnist"][1]
    assert label.startswith("your "), label
    assert prediction(at) is not None, "the run's guess (in use)"
    assert metric(at, "The pretrained model says").startswith("7 · "), "the shipped guess beside it"
    assert f"In use: {label}" in texts(at.markdown)
    assert "for comparison: the pretrained model" in texts(at.markdown), texts(at.markdown)
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert f"in use: {label}" in spec and "beside it: the pretrained model" in spec, "both bars"

    # switch to the pretrained model: it is in use, the run beside it, and back again
    at.button(key="draw_use_pretrained").click().run()
    assert at.session_state["user_models"]["mnist"] is None
    assert prediction(at) == "7"
    assert "In use: the pretrained model" in texts(at.markdown)
    assert "the pretrained model" in texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    assert metric(at, "Your run says") is not None, "the run beside it"
    at.button(key="draw_use_run").click().run()
    assert at.session_state["user_models"]["mnist"][1] == label
    assert not at.exception and not at.error
