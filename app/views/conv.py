"""A conv net's feature maps, drawn with Streamlit, for Draw (live, as you draw) and Inspect.

The maps of each conv and pool layer for one drawing as thumbnails feeding the dense layers and the
outputs (app.render.feature_maps), clickable; below, the chosen map: the map with its strongest
point, the input patch under the filter, the filter, the sum written out, and what the map
responds to around this drawing (core.explain_conv). Every widget key starts with ``prefix``.

    feature_maps_view(asked, pixels, names, prefix)   the chart, a map picker, the map's arithmetic
    filters_view(model)                               every conv layer's filters (Inspect)
    feature_maps_gallery(saved, pixels)               every stage's maps as pictures (Inspect)
"""
import numpy as np
import streamlit as st

from app.render.feature_maps import (
    feature_maps_chart,
    heat_picture,
    map_key,
    parse_map_key,
    signed_picture,
)
from app.render.why import as_table, attribution_picture
from core.conv import Conv2D
from core.explain import probabilities, trace
from core.explain_conv import feature_stages, map_arithmetic, map_input_gradient, strongest
from core.layers import Dense

TERMS_SHOWN = 8


def _clicked(chart_key, map_state):
    """on_select of the chart: a click on a map chooses it (a click elsewhere keeps the one
    chosen)."""
    event = st.session_state.get(chart_key) or {}
    for point in (event.get("selection") or {}).get("map") or []:
        if isinstance(point, dict) and point.get("key"):
            st.session_state[map_state] = str(point["key"])
            return


def dense_activations(model, tr):
    """[(title, activations (H,))] of the hidden dense layers for row 0 of ``tr``."""
    out = []
    dense = [l for l, layer in enumerate(model.layers[:-1]) if isinstance(layer, Dense)]
    for number, l in enumerate(dense, 1):
        values = model.activation.forward(tr.pre[l])[0]
        active = int((values > 1e-6).sum())
        out.append((f"Dense {number}: {values.size} units ({active} active; red = firing)", values))
    return out


def default_map(stages):
    """The most active map of the first stage."""
    return map_key(0, int(np.argmax(stages[0].maps.reshape(stages[0].maps.shape[0], -1).max(axis=1))))


def feature_maps_view(asked, pixels, names, prefix):
    """The feature maps of ``asked`` (.model, .scaling) for ``pixels`` (784,) in [0, 1], layer by
    layer, and the arithmetic of the map chosen (a click on it, or the picker)."""
    ss = st.session_state
    model, scaling = asked.model, asked.scaling
    map_state, chart_key = f"{prefix}_map", f"{prefix}_maps"
    stages = feature_stages(model, pixels, scaling)
    if parse_map_key(ss.get(map_state), stages) is None:
        ss[map_state] = default_map(stages)
    tr = trace(model, pixels, scaling)
    probs = probabilities(model, tr.logits)[0]
    st.caption("A conv net reads the picture through small **filters**: each filter slides over "
               "the image and makes a **feature map**, bright where the patch under it matches "
               "what it looks for. **Pooling** keeps the largest value of each 2x2 block, so the "
               "maps shrink and a small shift matters less. The last maps feed the dense layers "
               "and the outputs. White = strongly active (one scale per layer). **Click a map** "
               "to see the arithmetic that made it.")
    spec, keys = feature_maps_chart(stages, dense_activations(model, tr), probs, names,
                                    ss[map_state])
    spec["data"]["values"] = as_table(spec["data"]["values"])
    st.vega_lite_chart(spec, key=chart_key, on_select=lambda: _clicked(chart_key, map_state),
                       selection_mode="map", width="content")
    labels = {map_key(s, c): f"{stage.title.split(':')[0]}, map {c}"
              for s, stage in enumerate(stages) for c in range(stage.maps.shape[0])}
    st.selectbox("Look inside a map (or click one)", keys, format_func=labels.get, key=map_state)
    s, channel = parse_map_key(ss[map_state], stages)
    map_details(model, pixels, stages, s, channel, scaling)


def _signed(value):
    return f"{value:+.3f}".replace("-", "−")


def _terms_markdown(sums, stage, first):
    """The conv sum written out: the largest terms, the rest, the bias, z and the activation."""
    k = sums.patch.shape[-1]
    terms = (sums.patch * sums.weights)                                     # (C_in, k, k)
    if first:
        flat = terms.reshape(-1)
        order = np.argsort(-np.abs(flat))[:TERMS_SHOWN]
        lines = ["| pixel (row, column) | pixel | × weight | = |", "|---|---:|---:|---:|"]
        for i in order:
            u, v = divmod(int(i), k)
            lines.append(f"| ({sums.row + u}, {sums.col + v}) | {sums.patch[0, u, v]:.2f} | "
                         f"{_signed(sums.weights[0, u, v])} | {_signed(flat[i])} |")
        rest, others = flat.sum() - flat[order].sum(), flat.size - len(order)
    else:
        per_channel = terms.reshape(terms.shape[0], -1).sum(axis=1)           # (C_in,)
        order = np.argsort(-np.abs(per_channel))[:TERMS_SHOWN]
        lines = [f"| input map | its {k}x{k} patch · this filter's slice | = |", "|---|---|---:|"]
        for i in order:
            lines.append(f"| map {int(i)} of the layer before | Σ {k * k} products | "
                         f"{_signed(per_channel[i])} |")
        rest, others = per_channel.sum() - per_channel[order].sum(), per_channel.size - len(order)
    if others:
        lines.append(f"| the other {others:,} | | | {_signed(rest)} |" if first else
                     f"| the other {others:,} maps | | {_signed(rest)} |")
    pad = "| | |" if first else "| |"
    lines += [f"| **sum** {pad} **{_signed(terms.sum())}** |", f"| + bias {pad} {_signed(sums.bias)} |",
              f"| **= z** {pad} **{_signed(sums.z)}** |",
              f"| activation(z), the map's value {pad} **{sums.a:.3f}** |"]
    return "\n".join(lines)


def map_details(model, pixels, stages, s, channel, scaling):
    """The chosen map: itself with its strongest point, the patch and the filter, the sum, and
    what it responds to."""
    stage = stages[s]
    row, col = strongest(stage, channel)
    sums = map_arithmetic(stages, s, channel, row, col)
    C, H, W = stage.maps.shape
    st.markdown(f"#### {stage.title.split(':')[0]}, map {channel} ({H}x{W})")
    pictures, text = st.columns([2, 3], gap="medium")
    scale = max(2, 140 // H)
    with pictures:
        st.image(heat_picture(stage.maps[channel], scale=scale, mark=(row, col)), width=140,
                 caption=f"The map; its strongest value ({sums.a:.2f}) is outlined, at row "
                         f"{row}, column {col}")
        if stage.kind == "conv":
            k = stage.layer.kernel
            first = stage.inputs.shape[0] == 1
            if first:
                st.image(heat_picture(stage.inputs[0], limit=1.0 if scaling == "unit" else None,
                                      scale=5, box=(row, col, k)), width=140,
                         caption=f"The input patch under the filter ({k}x{k} pixels)")
                st.image(signed_picture(sums.weights[0], scale=max(4, 140 // k)), width=100,
                         caption="The filter: red weights reward ink, blue ones penalise it")
            else:
                strongest_in = int(np.argmax(np.abs((sums.patch * sums.weights).sum(axis=(1, 2)))))
                st.image(signed_picture(sums.weights[strongest_in], scale=max(4, 140 // k)),
                         width=100, caption=f"The filter's slice for input map {strongest_in}, "
                                            "the one that adds most here")
        else:
            st.image(heat_picture(stage.inputs[channel], scale=max(2, 140 // stage.inputs.shape[1]),
                                  box=(2 * row, 2 * col, 2)), width=140,
                     caption="The map before pooling, the 2x2 block outlined")
    with text:
        if stage.kind == "pool":
            values = ", ".join(f"{v:.2f}" for v in sums.patch.reshape(-1))
            st.markdown(f"**Max pooling**: this value is the largest of the 2x2 block "
                        f"({values}) → **{sums.a:.3f}**. Nothing is learned here: pooling keeps "
                        "where a feature was found, roughly, and halves the map.")
        else:
            first = stage.inputs.shape[0] == 1
            k = stage.layer.kernel
            st.markdown(f"**Its value at the outlined point, written out**: the filter "
                        f"({stage.inputs.shape[0]}x{k}x{k} weights) times the patch under it"
                        + (", the largest terms first" if first else
                           ", summed per input map, the largest first") + ".")
            st.markdown(_terms_markdown(sums, stage, first))
            st.caption("Every point of the map is the same sum with the same filter, the patch "
                       "slid over one step: one filter finds its pattern anywhere.")
    gradient = map_input_gradient(model, pixels, stage, channel, scaling)
    left, right = st.columns([2, 3], vertical_alignment="center")
    left.image(attribution_picture(pixels, gradient, scale=5), width=140,
               caption="What it responds to here")
    right.markdown("**What this map responds to, around your drawing**: red where more ink would "
                   "make the whole map brighter, blue where it would dim it. The first layer's "
                   "maps respond to strokes of one direction; deeper maps to parts of a shape.")


def filters_view(model):
    """Every conv layer's filters: the first layer's k x k weights as they are; a deeper layer's
    summed over its input maps (a summary: each has a slice per input map)."""
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    for number, layer in enumerate(convs, 1):
        C_out, C_in, k, _ = layer.W.shape
        weights = layer.W[:, 0] if C_in == 1 else layer.W.sum(axis=1)          # (C_out, k, k)
        st.markdown(f"**Conv {number}: {C_out} filters of {C_in}x{k}x{k} weights**"
                    + ("" if C_in == 1 else f" (shown summed over the {C_in} input maps)"))
        limit = float(np.abs(weights).max()) or 1.0
        st.image([signed_picture(w, limit, scale=max(4, 60 // k)) for w in weights],
                 caption=[f"{number}·{o}" for o in range(C_out)], width=60)
    st.caption("Red weights reward ink under them, blue ones penalise it; one colour scale per "
               "layer. A first-layer filter that is red on one side and blue on the other finds "
               "edges of that direction.")


def feature_maps_gallery(saved, pixels):
    """Every conv and pool stage's maps for ``pixels``, as rows of pictures (one scale per
    stage, white = strongly active)."""
    for stage in feature_stages(saved.model, pixels, saved.scaling):
        limit = float(stage.maps.max()) or 1.0
        st.markdown(f"**{stage.title}**")
        scale = max(1, 56 // stage.maps.shape[1])
        st.image([heat_picture(m, limit, scale=scale) for m in stage.maps],
                 caption=[str(c) for c in range(stage.maps.shape[0])], width=56)
