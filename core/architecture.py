"""A network's hidden layers as a line of text, e.g. ``conv 8x5, pool 2, conv 16x5, pool 2, dense 128``.

Grammar (case and extra spaces do not matter; items are separated by commas or semicolons):

    layers   := item ("," item)*
    item     := "conv" C "x" K [padding]   a k x k convolution to C channels, then the activation
              | "pool" ["2"]               2 x 2 max pooling (the only size)
              | "dense" N                  a fully connected layer of N units, then the activation
                                           (and dropout, when the model has it)
              | N                          the same as "dense N": "256, 128" still reads as before
    padding  := "valid" | "same"           default valid: no padding, each conv shrinks the image
                                           by K - 1; same: zeros around, the size is kept

Convolutions and pooling come first, on the 28 x 28 x 1 image; the first dense layer flattens
what they made. The output layer (10 units) is always added after the last item; "" or "none"
means no hidden layer (a linear classifier). ``parse_layers`` returns LayerSpecs and raises
ConfigError naming the bad item; ``layers_text`` writes the canonical form back.
"""
import re
from dataclasses import dataclass

from .errors import ConfigError

MAX_UNITS = 4096          # per dense layer: beyond this, a 2-core machine can't train it live
MAX_CHANNELS = 128        # per conv layer
MAX_KERNEL = 9
MAX_ITEMS = 12
MAX_TEXT = 200

_CONV = re.compile(r"conv\s*([0-9]+)\s*x\s*([0-9]+)(?:\s+(valid|same))?")
_POOL = re.compile(r"pool(?:\s*([0-9]+))?")
_DENSE = re.compile(r"(?:dense\s*)?([0-9]+)")


@dataclass(frozen=True)
class LayerSpec:
    kind: str                  # "conv" | "pool" | "dense"
    units: int = 0             # conv: output channels; dense: units
    kernel: int = 0            # conv only
    padding: str = "valid"     # conv only

    def text(self):
        if self.kind == "conv":
            pad = " same" if self.padding == "same" else ""
            return f"conv {self.units}x{self.kernel}{pad}"
        if self.kind == "pool":
            return "pool 2"
        return f"dense {self.units}"


def _parse_item(item, position):
    where = f"item {position} “{item if len(item) <= 30 else item[:30] + '…'}”"
    if m := _CONV.fullmatch(item):
        channels, kernel, padding = int(m[1]), int(m[2]), m[3] or "valid"
        if not 1 <= channels <= MAX_CHANNELS:
            raise ConfigError(f"Layers: {where} asks for {channels} channels; use 1 to {MAX_CHANNELS}.")
        if not 1 <= kernel <= MAX_KERNEL:
            raise ConfigError(f"Layers: {where} has a {kernel}x{kernel} kernel; use 1 to {MAX_KERNEL}.")
        return LayerSpec("conv", channels, kernel, padding)
    if m := _POOL.fullmatch(item):
        if m[1] is not None and int(m[1]) != 2:
            raise ConfigError(f"Layers: {where}: only 2x2 pooling is possible; write “pool 2”.")
        return LayerSpec("pool")
    if m := _DENSE.fullmatch(item):
        units = int(m[1])
        if not 1 <= units <= MAX_UNITS:
            raise ConfigError(f"Layers: {where} asks for {units} units; use 1 to {MAX_UNITS:,}.")
        return LayerSpec("dense", units)
    raise ConfigError(f"Layers: {where} is not a layer. Write items like “conv 8x5” (8 channels, "
                      f"5x5 kernel; add “same” to keep the size), “pool 2” or “dense 128”, "
                      f"separated by commas.")


def parse_layers(text):
    """The hidden layers described by ``text`` as a tuple of LayerSpec (see the module docstring)."""
    text = str(text)
    if len(text) > MAX_TEXT:
        raise ConfigError(f"Layers are a short line like “conv 8x5, pool 2, dense 128”; that is "
                          f"{len(text):,} characters.")
    items = [p.strip() for p in re.split(r"[,;]", text.strip().lower())]
    if items in ([""], ["none"], ["-"]):
        return ()
    specs = []
    for position, item in enumerate(items, 1):
        if not item:
            raise ConfigError(f"Layers: item {position} is empty; separate items with one comma.")
        specs.append(_parse_item(re.sub(r"\s+", " ", item), position))
    if len(specs) > MAX_ITEMS:
        raise ConfigError(f"Layers: {len(specs)} items is too many; use at most {MAX_ITEMS}.")
    seen_dense = False
    for position, spec in enumerate(specs, 1):
        if spec.kind == "dense":
            seen_dense = True
        elif seen_dense:
            raise ConfigError(f"Layers: item {position} “{spec.text()}” comes after a dense layer; "
                              f"put every conv and pool before the first dense layer.")
    return tuple(specs)


def layers_text(specs):
    """The canonical text of LayerSpecs: ``conv 8x5, pool 2, dense 128`` ("" for none)."""
    return ", ".join(spec.text() for spec in specs)


def is_convolutional(specs):
    return any(spec.kind != "dense" for spec in specs)


def image_shapes(specs, side, channels=1):
    """The (C, H, W) image after each conv or pool item, starting from (channels, side, side).
    Raises ConfigError naming the item after which nothing is left of the image."""
    shape, shapes = (channels, side, side), []
    for position, spec in enumerate(specs, 1):
        if spec.kind == "dense":
            break
        C, H, W = shape
        if spec.kind == "conv":
            shrink = 0 if spec.padding == "same" else spec.kernel - 1
            shape = (spec.units, H - shrink, W - shrink)
        else:
            shape = (C, H // 2, W // 2)
        if shape[1] < 1 or shape[2] < 1:
            raise ConfigError(f"Layers: after item {position} “{spec.text()}” nothing is left of the "
                              f"{side}x{side} image ({H}x{W} before it). Use fewer or smaller layers, "
                              f"or “same” padding.")
        shapes.append(shape)
    return shapes
