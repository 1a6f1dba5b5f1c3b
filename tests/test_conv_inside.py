"""The conv net's live pictures without a running app: filters, one image's feature maps, the
names of its layers, what the hidden-space map projects, and links that keep conv layers."""
import numpy as np

from app.inputs.links import link_query, read_link
from app.render.conv_inside import (
    MAPS_SHOWN,
    feature_strip,
    filter_grid,
    hidden_layer,
    layer_names,
    probe_index,
)
from core.explain_conv import feature_stages
from core.model import MLP, ModelConfig

CONVNET = ModelConfig(layers="conv 16x5, pool 2, conv 32x5, pool 2, dense 128")


def a_seven():
    image = np.zeros((28, 28), np.float32)
    image[6, 8:20] = 1
    image[6:22, 18] = 1
    return image


def test_the_pictures_are_made_for_every_kind_of_conv_net():
    for config in (CONVNET, ModelConfig(layers="conv 8x3 same, pool 2", activation="tanh"),
                   ModelConfig(layers="conv 64x3, dense 16")):
        model = MLP(config, np.random.default_rng(0))
        stages = feature_stages(model, a_seven().reshape(-1))
        strip = feature_strip(a_seven(), stages)
        assert strip.ndim == 3 and strip.shape[2] == 3 and strip.dtype == np.uint8
        grid = filter_grid(model.params["layers.0.W"])
        assert grid.ndim == 3 and grid.shape[0] <= grid.shape[1], "rows of filters, no more rows than columns"
        hidden, words = hidden_layer(model.hidden_activations(np.zeros((3, 784), np.float32)))
        assert hidden.ndim == 2 and hidden.shape[0] == 3 and words
    assert 64 > MAPS_SHOWN, "a wide layer shows its first maps only"


def test_the_filters_are_red_where_they_reward_ink_and_blue_where_they_penalise_it():
    W = np.zeros((1, 1, 3, 3), np.float32)
    W[0, 0, 0, 0], W[0, 0, 2, 2] = 1.0, -1.0
    grid = filter_grid(W, tile=3, gap=0)              # one filter, 3x3 weights of 1 px + frame
    red, blue = grid[1, 1], grid[3, 3]
    assert red[0] > red[2] and blue[2] > blue[0]


def test_layers_are_named_as_the_layers_text_names_them():
    assert layer_names(CONVNET) == ["conv 1", "conv 2", "dense 1", "output"]
    assert layer_names(ModelConfig(hidden_sizes=(32, 16))) == ["layer 1", "layer 2", "layer 3"]
    model = MLP(CONVNET, np.random.default_rng(0))
    assert hidden_layer(model.hidden_activations(np.zeros((2, 784), np.float32)))[1] == "dense 128"


def test_the_probe_is_a_typical_seven():
    rng = np.random.default_rng(0)
    X = rng.random((50, 784), np.float32)
    y = np.arange(50) % 10
    X[y == 7] = 0.5
    X[27] = 0.0                          # an odd seven: far from the sevens' mean
    assert y[probe_index(X, y)] == 7 and probe_index(X, y) != 27
    assert probe_index(X[y != 7], y[y != 7]) == 0, "no seven: the first image"


def test_a_shared_link_keeps_same_padding():
    query = link_query({"hidden": "conv 8x5 same, pool 2, dense 64"}, "mnist")
    assert read_link(query).settings["hidden"] == "conv 8x5 same, pool 2, dense 64"
    assert " " not in query["hidden"].replace(" same", "")
