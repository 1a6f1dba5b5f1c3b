"""core.drawing: canvas and uploaded images -> MNIST-style 784 pixels, and edge cases.

(Its speed is a figure of benchmarks/speed.py's inference section, not a test.)
"""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.drawing import MAX_PIXELS, Preprocessed, PreprocessOptions, preprocess_canvas, preprocess_image
from core.resample import _area_matrix, _banded_product, resize_area, stroke_width
from core.errors import DrawingError

CANVAS = 280
MODELS = Path(__file__).resolve().parents[1] / "model"


def canvas_with(segments, brush=20.0, size=CANVAS):
    """(size, size, 4) uint8 canvas with white round-capped segments ((x0, y0), (x1, y1)) on
    black, anti-aliased by distance to the segment, alpha 255 - like streamlit-drawable-canvas."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    ink = np.zeros((size, size))
    for (x0, y0), (x1, y1) in segments:
        d = np.array([x1 - x0, y1 - y0], float)
        t = np.clip(((xx - x0) * d[0] + (yy - y0) * d[1]) / max(d @ d, 1e-9), 0, 1)
        dist = np.hypot(xx - x0 - t * d[0], yy - y0 - t * d[1])
        ink = np.maximum(ink, np.clip(brush / 2 + 0.5 - dist, 0, 1))
    rgba = np.full((size, size, 4), 255, np.uint8)
    rgba[..., :3] = np.round(ink * 255)[..., None]
    return rgba


SEVEN = [((80, 50), (200, 50)), ((200, 50), (120, 240))]


def center_of_mass(img):
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return (img * ys).sum() / img.sum(), (img * xs).sum() / img.sum()


def test_drawing_becomes_an_mnist_like_digit():
    result = preprocess_canvas(canvas_with(SEVEN))
    assert isinstance(result, Preprocessed) and not result.empty
    assert result.pixels.shape == (784,) and result.pixels.dtype == np.float32
    assert result.pixels.min() >= 0 and result.pixels.max() == pytest.approx(1.0)
    image = result.pixels.reshape(28, 28)
    rows, cols = np.nonzero(image > 0.1)
    assert rows.max() - rows.min() + 1 in (20, 21)          # longest side fitted to 20 px
    assert 8 <= cols.max() - cols.min() + 1 <= 16             # aspect ratio kept
    cy, cx = center_of_mass(image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5        # whole-pixel shift, like MNIST
    assert 1.5 < stroke_width(image) < 3.5                    # MNIST strokes: 1.8-3.9 px
    titles = [title for title, _ in result.steps]
    assert titles[0] == "Ink" and titles[-1].startswith("Model input")
    assert all(step.ndim == 2 for _, step in result.steps)


def test_subpixel_centring_puts_the_mass_exactly_at_14():
    result = preprocess_canvas(canvas_with(SEVEN), replace(PreprocessOptions(), subpixel=True))
    cy, cx = center_of_mass(result.pixels.reshape(28, 28))
    assert abs(cy - 14) < 0.1 and abs(cx - 14) < 0.1


def test_same_digit_anywhere_and_any_size_gives_nearly_the_same_pixels():
    small = [((x / 2 + 100, y / 2 + 100), (x1 / 2 + 100, y1 / 2 + 100)) for (x, y), (x1, y1) in SEVEN]
    a = preprocess_canvas(canvas_with(SEVEN, brush=20)).pixels
    b = preprocess_canvas(canvas_with(small, brush=10)).pixels
    assert np.abs(a - b).mean() < 0.05


def test_stroke_width_is_normalised():
    thin = preprocess_canvas(canvas_with(SEVEN, brush=8)).pixels.reshape(28, 28)
    fat = preprocess_canvas(canvas_with(SEVEN, brush=36)).pixels.reshape(28, 28)
    assert abs(stroke_width(thin) - stroke_width(fat)) < 0.8
    raw = replace(PreprocessOptions(), normalize_stroke=False)
    thin_raw = preprocess_canvas(canvas_with(SEVEN, brush=8), raw).pixels.reshape(28, 28)
    fat_raw = preprocess_canvas(canvas_with(SEVEN, brush=36), raw).pixels.reshape(28, 28)
    assert stroke_width(fat_raw) - stroke_width(thin_raw) > 1.5


@pytest.mark.parametrize("field", ["crop", "fit_box", "center_of_mass", "normalize_stroke",
                                   "stretch_contrast"])
def test_every_step_can_be_switched_off(field):
    options = replace(PreprocessOptions(), **{field: False})
    result = preprocess_canvas(canvas_with(SEVEN), options)
    assert result.pixels.shape == (784,) and 0 <= result.pixels.min() <= result.pixels.max() <= 1
    assert not result.empty


def test_without_crop_the_digit_stays_small():
    result = preprocess_canvas(canvas_with(SEVEN), replace(PreprocessOptions(), crop=False))
    rows, _ = np.nonzero(result.pixels.reshape(28, 28) > 0.1)
    assert rows.max() - rows.min() + 1 < 18


def test_blur_softens_edges():
    plain = preprocess_canvas(canvas_with(SEVEN)).pixels
    blurred = preprocess_canvas(canvas_with(SEVEN), replace(PreprocessOptions(), blur=0.8)).pixels
    assert (blurred > 0.05).sum() > (plain > 0.05).sum()


@pytest.mark.parametrize("canvas", [None, np.zeros((280, 280, 4), np.uint8),
                                    np.zeros((0, 0, 4), np.uint8)])
def test_empty_canvas_is_empty_not_an_error(canvas):
    if canvas is not None and canvas.size:
        canvas[..., 3] = 255
    result = preprocess_canvas(canvas)
    assert result.empty and result.pixels.shape == (784,) and not result.pixels.any()


def test_single_dot_gives_a_centred_blob():
    result = preprocess_canvas(canvas_with([((140, 140), (140, 140))], brush=12))
    assert not result.empty
    image = result.pixels.reshape(28, 28)
    cy, cx = center_of_mass(image)
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    assert image.max() == pytest.approx(1.0)


def test_ink_touching_every_edge_is_not_clipped():
    border = [((0, 0), (279, 0)), ((279, 0), (279, 279)), ((279, 279), (0, 279)), ((0, 279), (0, 0))]
    result = preprocess_canvas(canvas_with(border, brush=24))
    image = result.pixels.reshape(28, 28)
    rows, cols = np.nonzero(image > 0.1)
    assert rows.min() >= 3 and rows.max() <= 24 and cols.min() >= 3 and cols.max() <= 24
    assert image[14, 14] == 0                                 # a hollow square stays hollow


def test_canvas_full_of_ink_is_refused_with_a_clear_message():
    with pytest.raises(DrawingError, match="ink"):
        preprocess_canvas(np.full((280, 280, 4), 255, np.uint8))


def test_float_and_rgb_canvases_are_accepted():
    rgba = canvas_with(SEVEN)
    expected = preprocess_canvas(rgba).pixels
    assert np.allclose(preprocess_canvas(rgba[..., :3]).pixels, expected)
    assert np.allclose(preprocess_canvas(rgba.astype(np.float32) / 255).pixels, expected, atol=1e-5)
    assert np.allclose(preprocess_canvas(rgba.astype(np.float64)).pixels, expected, atol=1e-5)


def test_transparent_background_canvas_counts_as_paper():
    rgba = canvas_with(SEVEN)
    rgba[..., 3] = rgba[..., 0]                               # ink only where drawn
    rgba[rgba[..., 3] == 0, :3] = 255                         # white, but fully transparent
    assert np.allclose(preprocess_canvas(rgba).pixels, preprocess_canvas(canvas_with(SEVEN)).pixels,
                       atol=0.02)


def test_uploaded_dark_on_light_image_is_inverted():
    canvas = canvas_with(SEVEN)
    paper = 255 - canvas[..., 0]                              # black ink on white paper
    photo = (paper * 0.8 + 30).astype(np.uint8)               # greyish paper, dark-grey ink
    expected = preprocess_canvas(canvas).pixels
    for image in (paper, photo, np.dstack([paper] * 3), np.dstack([paper] * 3 + [np.full_like(paper, 255)])):
        result = preprocess_image(image)
        assert not result.empty
        assert np.abs(result.pixels - expected).mean() < 0.03


def test_uploaded_light_on_dark_image_and_noise():
    rng = np.random.default_rng(0)
    image = canvas_with(SEVEN)[..., 0].astype(np.float32) / 255
    noisy = np.clip(image + rng.uniform(0, 0.08, image.shape), 0, 1)
    a = preprocess_image(image).pixels
    b = preprocess_image(noisy).pixels
    assert np.abs(a - b).mean() < 0.03


def test_one_colour_images_are_empty():
    for image in (np.full((50, 40), 255, np.uint8), np.zeros((50, 40)), np.full((1, 1), 0.3),
                  np.array([[7]], np.uint8)):
        result = preprocess_image(image)
        assert result.empty and not result.pixels.any()


def test_huge_image_is_reduced_and_too_huge_is_refused():
    image = np.full((10_000, 10_000), 255, np.uint8)          # 100 MB of white paper
    image[2000:8000, 4600:5400] = 0                            # a thick black "1"
    result = preprocess_image(image)
    rows, cols = np.nonzero(result.pixels.reshape(28, 28) > 0.5)
    assert not result.empty and rows.max() - rows.min() + 1 >= 19 and cols.max() - cols.min() < 8
    too_big = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (MAX_PIXELS // 1000 + 1, 1000), (0, 0))
    with pytest.raises(DrawingError, match="megapixels"):
        preprocess_image(too_big)


@pytest.mark.parametrize("preprocess", [preprocess_canvas, preprocess_image])
@pytest.mark.parametrize("bad, message", [
    (np.full((28, 28), np.nan), "NaN"),
    (np.zeros((2, 28, 28, 3)), "dimension"),
    (np.zeros(784), "dimension"),
    (np.zeros((28, 28, 5)), "channels"),
    (np.full((28, 28), -3.0), "between"),
    (np.array([["a", "b"]]), "numbers"),
])
def test_bad_arrays_raise_drawing_error(preprocess, bad, message):
    with pytest.raises(DrawingError, match=message):
        preprocess(bad)


def test_bad_options_are_refused():
    with pytest.raises(DrawingError, match="stroke_width"):
        PreprocessOptions(stroke_width=20)


def test_area_resampling_is_exact_box_filtering():
    rng = np.random.default_rng(0)
    img = rng.random((60, 90), dtype=np.float32)
    small = resize_area(img, (20, 30))                        # exact 3 x 3 blocks
    assert np.allclose(small, img.reshape(20, 3, 30, 3).mean(axis=(1, 3)), atol=1e-6)
    odd = resize_area(img, (7, 11))                           # mass is kept for any factor
    assert odd.sum() * (60 / 7) * (90 / 11) == pytest.approx(img.sum(), rel=1e-4)
    band = _area_matrix(400, 37, 400 / 37, -3.0)
    x = rng.random((400, 50), dtype=np.float32)
    assert np.allclose(_banded_product(band, x), band[0] @ x, atol=1e-5)


@pytest.mark.skipif(not (MODELS / "fashion-mnist" / "pretrained.npz").exists(),
                    reason="the shipped Fashion-MNIST model is not built yet")
def test_fashion_pictures_go_through_fashion_mnists_own_steps():
    """Fashion-MNIST's pictures fill the 28 x 28 square and are centred by their box; put through
    MNIST's steps (20-px box, centre of mass, even strokes) the shipped model reads them badly.
    Enlarged test pictures placed anywhere on the canvas come back close to the originals."""
    from core.datasets import read_sample
    from core.drawing import options_for
    from core.modelio import load_model

    raw = read_sample("fashion-mnist")
    model = load_model(MODELS / "fashion-mnist" / "pretrained.npz").model
    images, labels = raw.test_images[:300].reshape(-1, 28, 28), raw.test_labels[:300]
    rng = np.random.default_rng(0)
    canvases = []
    for image in images:
        big = np.kron(image, np.ones((8, 8), np.uint8))              # 224 x 224
        canvas = np.zeros((CANVAS, CANVAS), np.uint8)
        y, x = rng.integers(0, CANVAS - 224 + 1, 2)
        canvas[y:y + 224, x:x + 224] = big
        canvases.append(canvas)

    def accuracy(pixels):
        return float((model.predict(np.stack(pixels).astype(np.float32)) == labels).mean())

    original = accuracy([image.reshape(-1) / 255.0 for image in images])
    fashion = accuracy([preprocess_image(c, options_for("fashion-mnist")).pixels for c in canvases])
    mnist = accuracy([preprocess_image(c, options_for("mnist")).pixels for c in canvases])
    assert fashion >= original - 0.03, (fashion, original)
    assert mnist < fashion - 0.2, (mnist, fashion)
    assert options_for("mnist") == PreprocessOptions() == options_for("no-such-dataset")
