"""The inside of a conv net while it learns, as pictures (no st.* calls): the first conv layer's
filters as they form, and one fixed image's feature maps after every conv and pool layer, read
left to right as CNN Explainer and ConvNetJS show them. For the Train page's live view and its
replay (app.views.inside); the MLP's pictures are app.render.inside's.

    filter_grid(W, count)                   the first conv layer's filters (C_out, 1, k, k), red/blue
    probe_index(X, y)                       the validation image whose maps the page follows
    feature_strip(image, stages)            input | conv 1 | pool 1 | ... as one RGB picture
    layer_names(model_config)               each weight layer's name, for the health chart
    hidden_layer(hidden, model_config)      the activations the hidden-space map projects
"""
import math

import numpy as np

from app.render.feature_maps import heat_levels
from app.render.images import border, diverging_rgb, scale_up

FILTERS_SHOWN = 36          # as many filters as fit a 6 x 6 grid
FILTER_TILE = 64            # px of one filter in the picture (shown at about half)
STRIP_ROWS = 8              # a stage's maps in columns of 8: every stage is as tall as the others
MAPS_SHOWN = 32             # at most 4 columns of maps per stage
MAP_TILE = 48               # px of one map in the picture (shown at about 0.4)
TILE_GAP = 4
STAGE_GAP = 22
LABEL_HEIGHT = 86           # two lines of labels above the stages
FONT_SIZE = 40              # shown at about 15 px
PROBE_CLASS = 7             # a 7 (or a sneaker): strokes of two directions, one clear shape


def filter_grid(W, count=FILTERS_SHOWN, tile=FILTER_TILE, gap=6):
    """The first ``count`` filters of a conv layer's W (C_out, C_in, k, k) as one RGB uint8 grid,
    red where a weight rewards ink, blue where it penalises it, on one colour scale for the layer
    (a filter that stays pale has learned little). A deeper layer's filters are summed over their
    input maps."""
    W = np.asarray(W, np.float32)
    weights = W[:, 0] if W.shape[1] == 1 else W.sum(axis=1)                 # (C_out, k, k)
    weights = weights[:count]
    n, k = weights.shape[0], weights.shape[-1]
    limit = float(np.abs(weights).max()) or 1.0
    scale = max(1, tile // k)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    side = k * scale + 2                                                    # with a grey frame
    canvas = np.full((rows * (side + gap) - gap, columns * (side + gap) - gap, 3), 255, np.uint8)
    for i, w in enumerate(weights):
        r, c = divmod(i, columns)
        top, left = r * (side + gap), c * (side + gap)
        canvas[top:top + side, left:left + side] = border(
            scale_up(diverging_rgb(w, limit), scale), 1, 190)
    return canvas


def probe_index(X, y, wanted=PROBE_CLASS):
    """The index in X (N, 784) of the most typical image of class ``wanted`` (closest to its
    class's mean image): a clear shape whose maps are easy to read. The first image when the
    class is missing."""
    y = np.asarray(y)
    members = np.flatnonzero(y == wanted)
    if members.size == 0:
        return 0
    images = np.asarray(X[members], np.float32)                            # (n, 784)
    distance = np.linalg.norm(images - images.mean(axis=0), axis=1)
    return int(members[int(np.argmin(distance))])


def _stage_tiles(maps, shown):
    """RGB tiles of the first ``shown`` maps (C, H, W) of one stage, enlarged to about MAP_TILE:
    black (0) to white (the stage's largest value); maps with negative values (tanh, sigmoid's
    centre) in red/blue on one scale."""
    maps = np.asarray(maps[:shown], np.float32)
    scale = max(1, round(MAP_TILE / maps.shape[1]))
    if maps.min() < 0:
        rgb = diverging_rgb(maps, float(np.abs(maps).max()) or 1.0)         # (C, H, W, 3)
    else:
        rgb = np.repeat(heat_levels(maps)[..., None], 3, axis=3)
    return [border(scale_up(tile, scale), 1, 190) for tile in rgb]     # framed: white on white


def _grid(tiles, rows):
    """Tiles of one size in columns of ``rows``, filled column by column, TILE_GAP apart."""
    side_h, side_w = tiles[0].shape[:2]
    rows = min(rows, len(tiles))
    columns = math.ceil(len(tiles) / rows)
    grid = np.full((rows * (side_h + TILE_GAP) - TILE_GAP,
                    columns * (side_w + TILE_GAP) - TILE_GAP, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        c, r = divmod(i, rows)
        grid[r * (side_h + TILE_GAP):r * (side_h + TILE_GAP) + side_h,
             c * (side_w + TILE_GAP):c * (side_w + TILE_GAP) + side_w] = tile
    return grid


def stage_label(stage):
    """The lines above a stage, e.g. ("conv 1", "24x24"): its name and its maps' size (their
    count is the grid's)."""
    C, H, W = stage.maps.shape
    return f"{stage.kind} {stage.number}", f"{H}x{W}"


def feature_strip(image, stages, shown=MAPS_SHOWN):
    """One RGB uint8 picture: the input ``image`` (28, 28) in [0, 1], then each stage's maps
    (core.explain_conv.Stage: after each conv layer's activation and each pool layer), in columns
    of STRIP_ROWS, each labelled with its name and its maps' size. At most ``shown``
    maps of a stage."""
    from PIL import Image, ImageDraw, ImageFont
    grids = [_grid(_stage_tiles(stage.maps, shown), STRIP_ROWS) for stage in stages]
    height = max([g.shape[0] for g in grids] + [8 * MAP_TILE // 2])
    grey = (np.clip(np.asarray(image, np.float32).reshape(28, 28), 0, 1) * 255 + 0.5)
    side = min(height, 3 * MAP_TILE + 2 * TILE_GAP)                      # the input: 3 maps tall
    first = border(scale_up(grey.astype(np.uint8), max(1, side // 28)), 1, 190)
    first = np.repeat(first[..., None], 3, axis=2)
    blocks = [(("input", "28x28"), first)] + [
        (stage_label(stage), grid) for stage, grid in zip(stages, grids)]
    font = ImageFont.load_default(size=FONT_SIZE)
    small = ImageFont.load_default(size=FONT_SIZE - 4)
    # a stage is at least as wide as its labels (one column of maps is narrower than "16 maps")
    widths = [max(block.shape[1], *(int(f.getlength(t)) + 4 for f, t in
                                    zip((font, small), lines)))
              for lines, block in blocks]
    width = sum(widths) + STAGE_GAP * (len(blocks) - 1)
    canvas = Image.new("RGB", (width, LABEL_HEIGHT + height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (lines, block), w in zip(blocks, widths):
        centre = x + w / 2
        for line, f, top, colour in zip(lines, (font, small), (0, FONT_SIZE + 4),
                                         ((30, 30, 30), (100, 100, 100))):
            draw.text((centre, top), line, fill=colour, font=f, anchor="ma")
        canvas.paste(Image.fromarray(block), (int(centre - block.shape[1] / 2), LABEL_HEIGHT))
        x += w + STAGE_GAP
    return np.asarray(canvas)


def layer_names(model_config):
    """Each weight layer's name in order, as the health chart labels it: "layer 1", "layer 2", ...
    for an MLP; "conv 1", "conv 2", "dense 1", "output" for a conv net."""
    n_dense = len(model_config.hidden_sizes)
    if not model_config.is_convolutional:
        return [f"layer {i + 1}" for i in range(n_dense + 1)]
    n_conv = sum(spec.kind == "conv" for spec in model_config.specs)
    return ([f"conv {i + 1}" for i in range(n_conv)] + [f"dense {i + 1}" for i in range(n_dense)]
            + ["output"])


def hidden_layer(hidden):
    """(activations (N, D), words) of what the hidden-space map projects, from a conv net's
    hidden activations (model.hidden_activations): the last dense layer ("dense 128", as the
    layers text names it); with none, the last conv or pool layer's maps, flattened."""
    dense = [i for i, a in enumerate(hidden) if np.ndim(a) == 2]
    if dense:
        values = hidden[dense[-1]]
        return values, f"dense {values.shape[1]}"
    values = np.asarray(hidden[-1])
    C, H, W = values.shape[1:]
    return values.reshape(len(values), -1), f"the {C} maps of {H}x{W}, flattened"
