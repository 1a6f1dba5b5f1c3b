"""The layer text form: what it reads, how it says what is wrong, and MLP settings unchanged."""
import numpy as np
import pytest

from core.architecture import layers_text, parse_layers
from core.errors import ConfigError
from core.model import MLP, ModelConfig


def test_reads_the_documented_forms_and_writes_them_back():
    specs = parse_layers(" Conv 8x5, pool 2; conv 16 x 3 same, POOL, dense 128, 64 ")
    assert layers_text(specs) == "conv 8x5, pool 2, conv 16x3 same, pool 2, dense 128, dense 64"
    assert parse_layers("") == () == parse_layers("none")


@pytest.mark.parametrize("text,names", [
    ("conv 8x5, pool 3", "item 2 “pool 3”"),
    ("conv 8by5", "item 1 “conv 8by5”"),
    ("dense 128, conv 8x5", "item 2 “conv 8x5”"),
    ("conv 0x5", "item 1"),
    ("conv 8x11", "item 1"),
    ("dense 99999", "item 1"),
    ("conv 8x5,, dense 10", "item 2 is empty"),
])
def test_errors_name_the_bad_item(text, names):
    with pytest.raises(ConfigError, match=names):
        parse_layers(text)


def test_an_image_that_shrinks_to_nothing_is_refused_naming_the_layer():
    with pytest.raises(ConfigError, match="after item 5 “pool 2”"):
        ModelConfig(layers="conv 4x9, pool 2, conv 4x9, pool 2, pool 2")


def test_dense_only_text_is_the_same_mlp_as_hidden_sizes():
    a = ModelConfig(layers="dense 32, dense 16")
    b = ModelConfig(hidden_sizes=(32, 16))
    assert a == b and a.layers == "" and a.describe() == "784-32-16-10 relu / softmax, cross_entropy"
    ma, mb = MLP(a, np.random.default_rng(0)), MLP(b, np.random.default_rng(0))
    assert all(np.array_equal(ma.params[k], mb.params[k]) for k in mb.params)


def test_a_conv_config_counts_its_parameters_and_round_trips():
    config = ModelConfig(layers="conv 8x5, pool 2, conv 16x5, pool 2, dense 128")
    assert config.image_shapes == ((8, 24, 24), (8, 12, 12), (16, 8, 8), (16, 4, 4))
    assert config.layer_sizes == (256, 128, 10) and config.hidden_sizes == (128,)
    assert config.num_parameters == (25 * 8 + 8) + (200 * 16 + 16) + (257 * 128) + (129 * 10)
    assert MLP(config, np.random.default_rng(0)).num_parameters == config.num_parameters
    assert ModelConfig.from_dict(config.to_dict()) == config
