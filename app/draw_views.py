"""Streamlit-side helpers for the Draw page (no st.* calls here, so they test without an app).

- ``decode_upload``: an uploaded file's bytes -> a (H, W) uint8 greyscale array, with PIL. Decoding
  belongs to the page layer: ``core`` only ever sees arrays.
- ``enlarge``: a small image -> a bigger uint8 one with nearest-neighbour pixels, so a 28x28 input
  shows as crisp squares instead of the browser's blur.
- ``to_model_input`` / ``classify``: 784 pixels in [0, 1] -> the model's probabilities.
"""
import io
import warnings
from dataclasses import dataclass

import numpy as np

from core.errors import DrawingError

MAX_UPLOAD_BYTES = 20 * 2**20          # 20 MB: a photo of a digit is far smaller
MAX_UPLOAD_PIXELS = 50_000_000         # 50 megapixels: beyond that it is a decompression bomb
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "webp")

OPTION_HELP = {
    "crop": ("Crop to the ink", "Cut away the empty canvas around the strokes, so that where you "
             "drew does not matter."),
    "fit_box": ("Fit a {box}x{box} box", "Scale the longest side to {box} pixels with "
                "anti-aliasing, keeping the aspect ratio, so that big and small drawings look "
                "alike."),
    "center_of_mass": ("Centre the mass", "Shift the drawing so that its centre of mass is the "
                       "centre of the 28x28 image, as in MNIST (off: centre its bounding box, as "
                       "in Fashion-MNIST)."),
    "normalize_stroke": ("Even out the stroke", "Make the stroke about as thick as MNIST's pen "
                         "strokes, whatever brush you used."),
    "subpixel": ("Sub-pixel shift", "Centre by fractions of a pixel (MNIST used whole pixels)."),
    "blur": ("Soften the edges", "A gentle blur, like the anti-aliased scans MNIST was made from."),
    "stretch_contrast": ("Stretch the contrast", "Make the brightest pixel full white, as in every "
                         "MNIST image, so a faint drawing reads as strongly as a bold one."),
}
BLUR_SIGMA = 0.5                    # the blur toggle's sigma, in output pixels

# The canvas component draws its toolbar (undo, redo, reset, edit) inside its shadow root, hidden
# but *over* the top 30 px of the canvas until the mouse has hovered for 0.2 s: a quick stroke (or a
# touch, which never hovers) starting in that strip lands on the invisible toolbar and is lost.
# This script puts the toolbar above the canvas, always visible. Our own constant code; no input.
CANVAS_TOOLBAR_FIX = """<script>
(() => {
  if (window.__nnCanvasToolbarFix) return;
  window.__nnCanvasToolbarFix = true;
  const css = ".dc-toolbar{top:-2.9rem !important;opacity:1 !important;padding-bottom:0 !important}";
  const fix = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      if (root && root.querySelector(".dc-toolbar") && !root.querySelector("style[data-nn]")) {
        const style = document.createElement("style");
        style.dataset.nn = "toolbar";
        style.textContent = css;
        root.appendChild(style);
      }
    }
  };
  fix();
  setInterval(fix, 100);    // the component fills its shadow root later, out of observers' sight
})();
</script>"""

_warm = set()


def warm_up(saved=None):
    """Run the stroke path once on a made-up drawing (PNG decoding, every preprocessing step, a
    forward pass of ``saved``) when the page first loads, so that the user's first stroke does
    not pay for first-call set-up (imports, cached matrices, BLAS threads). Once per process
    and model."""
    key = id(saved.model) if saved is not None else None
    if key in _warm:
        return
    from PIL import Image
    from core.drawing import preprocess_canvas
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[60:220, 130:150, :3] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    result = preprocess_canvas(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))))
    if saved is not None:
        saved.model.predict_proba(to_model_input(result.pixels, saved.scaling))
    _warm.add(key)


def option_help(name, box_size=20):
    """(toggle title, one-line help) for a core.drawing.PreprocessOptions field."""
    title, help_text = OPTION_HELP.get(name, (name.replace("_", " ").capitalize(),
                                              f"The '{name}' step."))
    return title.format(box=box_size), help_text.format(box=box_size)


def test_image(raw, seed):
    """(index, 784 pixels in [0, 1], label) of the test image that ``seed`` picks from ``raw``."""
    count = raw.test_images.shape[0]
    if count == 0:
        raise DrawingError("This dataset has no test images to show.")
    index = int(seed) % count
    return index, raw.test_images[index].astype(np.float32) / 255.0, int(raw.test_labels[index])


def decode_upload(data, name="The file"):
    """Decode image bytes into a (H, W) uint8 greyscale array. Raises DrawingError.

    Refuses non-images, animations, files over 20 MB and images over 50 megapixels. CMYK, 16-bit,
    palette and transparent images are converted so that the digit keeps its contrast: a
    transparent background is filled with the colour opposite to the ink.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise DrawingError(f"{name} is empty: choose a PNG or JPEG picture of a digit.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DrawingError(f"{name} is {len(data) / 2**20:.1f} MB; upload an image of at most "
                           f"{MAX_UPLOAD_BYTES // 2**20} MB (a digit needs only a few kB).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise DrawingError(f"{name} is {width} x {height} pixels; upload an image of at "
                                   f"most {MAX_UPLOAD_PIXELS // 1_000_000} megapixels.")
            if image.format not in ACCEPTED_FORMATS:
                raise DrawingError(f"{name} is a {image.format} image; upload a PNG or JPEG.")
            if getattr(image, "n_frames", 1) > 1:
                raise DrawingError(f"{name} is an animation; upload a single still image.")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DrawingError(f"{name} is too many pixels to open safely; upload an image of at most "
                           f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels.") from None
    except UnidentifiedImageError:
        raise DrawingError(f"{name} is not an image PIL can read; upload a PNG or JPEG.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DrawingError(f"{name} is damaged or truncated ({e}); upload another copy.") from None
    if min(width, height) < 1:
        raise DrawingError(f"{name} has no pixels.")
    image = ImageOps.exif_transpose(image)       # phone photos are often stored sideways
    return _to_grey(image)


def _to_grey(image):
    """A PIL image of any mode -> (H, W) uint8 greyscale."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif values.size and np.nanmax(values) > 255:
            values = values / 257.0                 # 16-bit samples: 65535 -> 255
        return np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")                # CMYK, YCbCr, LAB, HSV, PA, La, RGBa...
    if image.mode in ("LA", "RGBA"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = rgba[..., 3] / 255.0
        if alpha.min() >= 0.98:
            return np.clip(grey, 0, 255).astype(np.uint8)
        ink = float((grey * alpha).sum() / max(alpha.sum(), 1e-6))   # mean colour of what is drawn
        background = 255.0 if ink < 128 else 0.0
        return np.clip(grey * alpha + background * (1 - alpha), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def enlarge(image, size=168, square=False):
    """A 2-D image in [0, 1] (or uint8) -> uint8, scaled up by an integer factor to about ``size``
    pixels on its longer side with nearest-neighbour pixels. Larger images are only converted.
    ``square``: first pad it with black to a centred square, so a row of steps lines up."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if square and image.ndim == 2 and image.shape[0] != image.shape[1]:
        h, w = image.shape
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        image = np.pad(image, ((top, side - h - top), (left, side - w - left)))
    factor = max(1, int(size) // max(image.shape[:2]))
    if factor > 1:
        image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    return image


def to_model_input(pixels, scaling="unit"):
    """784 pixels in [0, 1] -> the model's input row (1, 784) in its pixel scaling."""
    row = np.asarray(pixels, dtype=np.float32).reshape(1, -1)
    return row * 2.0 - 1.0 if scaling == "symmetric" else row


@dataclass(frozen=True)
class Guess:
    probabilities: np.ndarray   # (10,)
    index: int                  # the predicted class
    label: str                  # the digit or class name
    confidence: float


def classify(saved, pixels, class_names):
    """Run ``saved`` (a core.modelio.SavedModel) on 784 pixels in [0, 1]."""
    probabilities = saved.model.predict_proba(to_model_input(pixels, saved.scaling))[0]
    index = int(np.argmax(probabilities))
    return Guess(probabilities, index, str(class_names[index]), float(probabilities[index]))


@dataclass(frozen=True)
class AskedModel:
    """What ``classify`` needs: a model and the pixel scaling it was trained with."""
    model: object
    scaling: str


def run_moments(trainer, dataset):
    """The weight snapshots of this session's last run on ``dataset`` (oldest first), with the
    trainer's snapshot they belong to; ((), None) when there is no such run."""
    if trainer is None:
        return (), None
    snap = trainer.snapshot(poll=False)
    if snap.dataset != dataset or snap.snapshots is None or snap.model_config is None:
        return (), None
    return snap.snapshots.items(), snap


def model_at(snap, moment):
    """The network of run ``snap`` as it was at ``moment`` (an app.snapshots.Snapshot)."""
    from core.model import MLP
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    return AskedModel(MLP(snap.model_config, params=moment.params), scaling)

