"""A conv net's own inside views on the Train page, live and in the replay: the first conv layer's
filters as they form, and one fixed validation image's feature maps after every conv and pool
layer (the pictures: app.render.conv_inside). app.views.inside draws them in the places an MLP's
unit pictures take, beside the guesses, the hidden-space map and the health of every layer.

    filters_view(model, remembered, png)               "The filters" (of the first conv layer)
    feature_maps_view(model, X, y, scaling, remembered, png)   "Feature maps of one image" 

``remembered(name, make)`` is the inside views' memo: each picture is made once per network shown;
``png(picture)`` the PNG bytes st.image sends.
"""
import numpy as np
import streamlit as st

from app.render.conv_inside import (
    FILTERS_SHOWN,
    MAPS_SHOWN,
    feature_strip,
    filter_grid,
    probe_index,
    stage_label,
)
from app.render.images import display_images
from core.conv import Conv2D
from core.explain_conv import feature_stages

FILTERS_WIDTH = 170           # px: 16 filters of 5x5 in a 4 x 4 grid, each weight a visible square


def filters_view(model, remembered, png):
    """The first conv layer's filters, enlarged, red/blue on one scale for the layer."""
    first = next(layer for layer in model.layers if isinstance(layer, Conv2D))
    W = np.asarray(first.W)                                             # (C_out, 1, k, k)
    C_out, _, k, _ = W.shape
    st.markdown("**The filters**",
                help=f"The first conv layer's {C_out} filters, each {k}x{k} weights, enlarged"
                     + (f" (the first {FILTERS_SHOWN})" if C_out > FILTERS_SHOWN else "")
                     + ". Each filter slides over the image; where the ink under it matches its "
                       "red weights (and avoids its blue ones), its feature map lights up. They "
                       "start as random noise and turn into detectors of strokes and edges.")
    st.image(remembered("filters", lambda: png(filter_grid(W))), width=FILTERS_WIDTH)
    st.caption(f"Conv 1's {C_out} filters of {k}x{k}. Red: ink wanted, blue: not.")


def feature_maps_view(model, X, y, scaling, remembered, png):
    """The feature maps of one fixed validation image after every conv and pool layer."""
    def strip():
        index = probe_index(X, y)
        image = display_images(X[index:index + 1], scaling)[0]         # (28, 28) in [0, 1]
        stages = feature_stages(model, image.reshape(-1), scaling)
        return stages, png(feature_strip(image, stages))
    stages, picture = remembered("feature maps", strip)
    more = [stage_label(s)[0] for s in stages if s.maps.shape[0] > MAPS_SHOWN]
    st.markdown("**Feature maps of one image, layer by layer**",
                help="The same validation image for the whole run, as each conv layer (after "
                     "its activation) and each pool layer sees it: one map per filter, white "
                     "where the filter found its pattern, black where not (one scale per layer). "
                     "Pooling keeps the largest of each 2x2 block: half the size, the same "
                     "features. Deeper maps are smaller and stand for parts of the shape."
                     + (f" Only the first {MAPS_SHOWN} maps of {', '.join(more)} are shown."
                        if more else ""))
    st.image(picture, width="stretch")
    st.caption("White: the filter found its pattern there. They sharpen as the filters form.")
