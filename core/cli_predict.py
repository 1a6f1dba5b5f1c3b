"""``python -m core predict -dataset mnist --model M PICTURE...``: classify picture files as the
Draw page would.

Each PNG or JPEG (any size; white ink on black as the canvas draws, or dark ink on light paper,
told apart by the colour of the picture's border) is preprocessed by core.drawing exactly as the
Draw page does for that dataset (``preprocess_image`` with ``options_for(dataset)``), and one line
is printed per file, in the order given::

    three.png: 3 (99.2%)
    missing.png: error: no such file

A file that cannot be read gets its error line and the others still run; the exit status is 1
when any file failed, else 0. Works for every model file: MLPs and conv nets.

Decoding a picture needs Pillow (an app requirement), imported here only, inside a function, as
core/visualize.py imports matplotlib: the rest of core stays NumPy and the standard library.
"""
import sys
from pathlib import Path

import numpy as np

from .errors import DrawingError, NNError

MAX_PICTURE_BYTES = 20 * 2**20       # as the Draw page's upload limit
MAX_PICTURE_PIXELS = 50_000_000
FORMATS = ("PNG", "JPEG", "MPO")     # MPO: a phone's JPEG with a second frame


def read_picture(path):
    """The picture at ``path`` as an array preprocess_image takes: (H, W) grey, or (H, W, 2/3/4)
    with alpha. Raises DrawingError saying why it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise DrawingError("no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size > MAX_PICTURE_BYTES:
        raise DrawingError(f"{path.stat().st_size / 2**20:.1f} MB is more than the "
                           f"{MAX_PICTURE_BYTES // 2**20} MB a picture may have")
    if path.stat().st_size == 0:
        raise DrawingError("the file is empty")
    Image.MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS
    try:
        with Image.open(path) as image:
            if image.format not in FORMATS:
                raise DrawingError(f"a {image.format} image; use a PNG or JPEG")
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                values = np.asarray(image, np.float64)
                peak = values.max() if values.size else 0
                return (values / peak * 255).astype(np.uint8) if peak > 0 else values.astype(np.uint8)
            if image.mode not in ("L", "LA", "RGB", "RGBA"):
                image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA"
                                      else "RGB")
            return np.asarray(image)
    except DrawingError:
        raise
    except UnidentifiedImageError:
        raise DrawingError("not a picture (PNG or JPEG) that can be read") from None
    except Image.DecompressionBombError:
        raise DrawingError(f"more than {MAX_PICTURE_PIXELS // 1_000_000} megapixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DrawingError(f"damaged or truncated ({e})") from None


def classify_picture(saved, path):
    """(digit or class index, its probability) of the picture at ``path`` for the SavedModel
    ``saved``, preprocessed as the Draw page does for ``saved.dataset``."""
    from .drawing import options_for, preprocess_image
    from .explain import to_model_input
    result = preprocess_image(read_picture(path), options_for(saved.dataset))
    if result.empty:
        raise DrawingError("no ink: the picture is one colour")
    probs = saved.model.predict_proba(to_model_input(result.pixels, saved.scaling,
                                                     saved.model.dtype))[0]
    guess = int(probs.argmax())
    return guess, float(probs[guess])


def cmd_predict(args, load_saved, out=sys.stdout):
    """Print one line per picture; 1 if any could not be classified, else 0."""
    saved = load_saved(args, out=sys.stderr)          # stdout: one line per picture
    failed = False
    for picture in args.pictures:
        try:
            guess, probability = classify_picture(saved, picture)
            line = f"{picture}: {guess} ({probability * 100:.1f}%)"
        except (NNError, OSError) as e:
            failed = True
            line = f"{picture}: error: {e}"
        print(line, file=out, flush=True)
    return 1 if failed else 0
