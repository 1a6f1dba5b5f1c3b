"""The Draw page's helpers: the preprocessing steps' help, the first guess made warm, a test image,
and ``classify`` (784 pixels in [0, 1] -> the guess and all probabilities).
"""
import io
from dataclasses import dataclass

import numpy as np

from core.explain import to_model_input
from core.errors import DrawingError

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
# The switchable steps in the order core.drawing runs them (the toggles follow it).
PIPELINE_ORDER = ("crop", "normalize_stroke", "fit_box", "center_of_mass", "subpixel", "blur",
                  "stretch_contrast")
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


# On a phone (Streamlit stacks columns below 640 px) the title's room above and its size are cut, so
# that the canvas and the guess under it fit in the first screen. Style only, no script.
PHONE_CSS = """<style>
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 2.75rem; }
  [data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding: 0.25rem 0 0.25rem 0; }
  [data-testid="stMetricValue"] { font-size: 1.75rem; }
}
</style>"""

_warm = set()                  # (dataset, model) pairs whose first guess has been made


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
        saved.model.predict_proba(to_model_input(result.pixels.reshape(1, -1), saved.scaling))
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


@dataclass(frozen=True)
class Guess:
    probabilities: np.ndarray   # (10,)
    index: int                  # the predicted class
    label: str                  # the digit or class name
    confidence: float


def classify(saved, pixels, class_names):
    """Run ``saved`` (a core.modelio.SavedModel) on 784 pixels in [0, 1]."""
    X = to_model_input(pixels.reshape(1, -1), saved.scaling)                  # (1, 784)
    probabilities = saved.model.predict_proba(X)[0]
    index = int(np.argmax(probabilities))
    return Guess(probabilities, index, str(class_names[index]), float(probabilities[index]))
