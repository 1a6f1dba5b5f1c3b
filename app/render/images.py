"""Pictures as uint8 arrays, in the app's colours: enlarged pixels, weights in red and blue.

    enlarge(image, size)                 a small image scaled up with crisp nearest-neighbour pixels
    scale_up(image, factor), border(image, width, value)    the two steps every picture uses
    diverging_rgb(values, limit)         red (> 0) / white / blue (< 0), as everywhere in the app
    weight_images(W, start, count)       first-layer units' incoming weights as 28x28 pictures
    grey_images(images)                  a gallery of enlarged grey images
    display_images(X, scaling)           model inputs back to [0, 1] images
    framed(sketch, right)                a drawing framed green (read right) or red (wrong)
"""
import numpy as np

from app.render.palette import NEGATIVE, POSITIVE, RIGHT, WRONG

WEIGHTS_PER_PAGE = 64          # Inspect's unit pictures, one page


def display_images(X, scaling):
    """Model inputs (N, 784) in the given scaling -> (N, 28, 28) floats in [0, 1] to show."""
    X = np.asarray(X, dtype=np.float32)
    if scaling == "symmetric":
        X = (X + 1.0) / 2.0
    return X.reshape(-1, 28, 28)


# -- images --------------------------------------------------------------------------------------
def diverging_rgb(values, limit=None):
    """Map values to RGB uint8: negative blue, zero white, positive red (symmetric around 0)."""
    values = np.asarray(values, dtype=np.float32)
    limit = float(np.max(np.abs(values))) if limit is None else float(limit)
    t = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    red, blue = np.array(POSITIVE, np.float32), np.array(NEGATIVE, np.float32)
    white = np.float32(255.0)
    pos, neg = np.clip(t, 0, 1)[..., None], np.clip(-t, 0, 1)[..., None]
    rgb = white + pos * (red - white) + neg * (blue - white)
    return (rgb + 0.5).astype(np.uint8)


def weight_images(W, start=0, count=WEIGHTS_PER_PAGE, scale=4):
    """The incoming weights of units ``start .. start+count-1`` of a first layer W (784, H), each as
    a 28x28 red/blue image enlarged ``scale`` times. Each unit has its own colour range (its largest
    |weight| is full colour), so every pattern is visible whatever its magnitude."""
    W = np.asarray(W, dtype=np.float32)
    stop = min(W.shape[1], start + count)
    images = []
    for j in range(start, stop):
        image = diverging_rgb(W[:, j].reshape(28, 28))
        images.append(border(scale_up(image, scale)))
    return images


def grey_images(images, scale=3):
    """(N, 28, 28) floats in [0, 1] -> list of enlarged uint8 images (nearest-neighbour), each with
    a thin white margin so that neighbours in a gallery do not run into each other."""
    out = []
    for image in images:
        image = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        out.append(border(scale_up(image, scale)))
    return out


def scale_up(image, factor):
    """``image`` (H, W) or (H, W, C) enlarged ``factor`` times with nearest-neighbour pixels."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def border(image, width=3, value=255):
    """``image`` with a frame of ``width`` pixels of ``value`` (white: neighbours in a gallery do
    not run into each other; grey: a picture on white shows where it ends)."""
    pad = ((width, width), (width, width)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, constant_values=value)


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
    return scale_up(image, factor) if factor > 1 else image


# -- the gallery ---------------------------------------------------------------------------------------
def framed(sketch, right, width=3):
    """A (56, 56) uint8 sketch -> (62, 62, 3) RGB with a green (right) or red (wrong) frame."""
    rgb = np.repeat(np.asarray(sketch, np.uint8)[..., None], 3, axis=2)
    colour = np.array(RIGHT if right else WRONG, np.uint8)
    out = np.empty((rgb.shape[0] + 2 * width, rgb.shape[1] + 2 * width, 3), np.uint8)
    out[...] = colour
    out[width:-width, width:-width] = rgb
    return out
