"""The fast training paths against core.reference's step-by-step chain rule, in float64.

Seeded random networks (every hidden activation, every output/loss pair, 0 to 3 hidden layers),
batches below and above CHUNK_ROWS, dropout with the masks the fast path drew, and the compact
full-batch plan on image-like sparse data. The reference itself is checked against central
differences.
"""
import itertools

import numpy as np
import pytest

from core.activations import HIDDEN_ACTIVATIONS
from core.compact import CompactRows
from core.errors import ConfigError
from core.initializers import INITIALIZERS
from core.model import CHUNK_ROWS, MLP, ModelConfig
from core.reference import reference_loss_and_grads
from tests.test_gradients import check, numeric_grad
from tests.test_speed_paths import images

TOL = 1e-10
OUTPUTS = [("softmax", "cross_entropy"), ("softmax", "mse"), ("sigmoid", "mse")]


def agree(label, fast, reference, tol=TOL):
    fast, reference = np.asarray(fast, np.float64), np.asarray(reference, np.float64)
    assert fast.shape == reference.shape, f"{label}: fast shape {fast.shape} vs reference {reference.shape}"
    err = np.abs(fast - reference).max(initial=0) / max(1e-300, np.abs(reference).max(initial=0))
    assert err < tol, f"{label}: fast vs reference relative difference {err:.1e} (tolerance {tol:.0e})"


def compare(label, fast, reference, order=None):
    """``order``: the fast probabilities are in the original row order, the reference's in
    ``X[order]``'s (the compact plan's)."""
    loss, probs, grads = fast
    ref_loss, ref_probs, ref_grads = reference
    agree(f"{label} loss", loss, ref_loss)
    agree(f"{label} probabilities", probs if order is None else probs[order], ref_probs)
    assert set(grads) == set(ref_grads), f"{label}: fast grads {sorted(grads)} vs {sorted(ref_grads)}"
    for name in ref_grads:
        agree(f"{label} d{name}", grads[name], ref_grads[name])


def random_model(seed, activation, output, loss, depth, input_size=None, dropout=0.0):
    """A seeded float64 network of ``depth`` hidden layers with random sizes and initialiser."""
    rng = np.random.default_rng(seed)
    config = ModelConfig(input_size=input_size or int(rng.integers(3, 40)),
                         hidden_sizes=tuple(int(h) for h in rng.integers(1, 13, depth)),
                         output_size=int(rng.integers(2, 11)), activation=activation,
                         output_activation=output, loss=loss,
                         init=str(rng.choice(sorted(INITIALIZERS))), dropout=dropout, dtype="float64")
    return MLP(config, rng)


def random_batch(seed, n, model):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, model.config.input_size)),
            rng.integers(0, model.config.output_size, n))


def recorded_masks(model):
    """Make ``model.dropout.mask`` keep what it draws; returns that (growing) list."""
    drawn, draw = [], model.dropout.mask
    def mask(shape, rng, dtype):
        drawn.append(draw(shape, rng, dtype))
        return drawn[-1]
    model.dropout.mask = mask
    return drawn


def keep_masks(drawn, depth):
    """The fast path draws one mask per hidden layer per chunk (or group), in that order: the
    whole batch's 0/1 keep-mask of each layer."""
    return [np.concatenate([m != 0 for m in drawn[layer::depth]]) for layer in range(depth)]


CASES = list(itertools.product(sorted(HIDDEN_ACTIVATIONS), OUTPUTS, range(4)))
IDS = [f"{act}-{out}-{loss}-{depth}hidden" for act, (out, loss), depth in CASES]


@pytest.mark.parametrize("batch", ["below", "above"])
@pytest.mark.parametrize("activation,output_loss,depth", CASES, ids=IDS)
def test_fast_path_matches_the_reference(activation, output_loss, depth, batch):
    seed = CASES.index((activation, output_loss, depth)) * 2 + (batch == "above")
    model = random_model(seed, activation, *output_loss, depth)
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, CHUNK_ROWS + 1) if batch == "below"
            else rng.integers(CHUNK_ROWS + 1, 3 * CHUNK_ROWS))   # above: chunked, last chunk short
    X, y = random_batch(2000 + seed, n, model)
    compare(f"{model.config.describe()}, {n} rows", model.loss_and_grads(X, y),
            reference_loss_and_grads(model, X, y))


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_dropout_matches_the_reference_with_the_same_masks(activation, depth):
    model = random_model(depth, activation, "softmax", "cross_entropy", depth, dropout=0.4)
    X, y = random_batch(3, CHUNK_ROWS + 300, model)              # two chunks, masks drawn per chunk
    drawn = recorded_masks(model)
    fast = model.loss_and_grads(X, y, rng=np.random.default_rng(4))
    masks = keep_masks(drawn, depth)
    assert 0.3 < 1 - np.mean(masks[0]) < 0.5                     # some units really were dropped
    compare(f"dropout {model.config.describe()}", fast, reference_loss_and_grads(model, X, y, masks))


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("output,loss", OUTPUTS)
@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_compact_plan_matches_the_reference(activation, output, loss, depth):
    model = random_model(depth, activation, output, loss, depth, input_size=784)
    X, y = images(700, 5 + depth)
    y = y % model.config.output_size
    plan = CompactRows(X, y, part_rows=32, group_rows=200)
    assert plan.density < 0.8                                    # it really skips zero columns
    compare(f"compact {model.config.describe()}", model.loss_and_grads_compact(plan),
            reference_loss_and_grads(model, X, y))


def test_compact_plan_with_default_parts_and_dropout_matches_the_reference():
    model = random_model(7, "relu", "softmax", "cross_entropy", 2, input_size=784, dropout=0.25)
    X, y = images(CHUNK_ROWS + 500, 8)
    y = y % model.config.output_size
    plan = CompactRows(X, y)
    drawn = recorded_masks(model)
    fast = model.loss_and_grads_compact(plan, rng=np.random.default_rng(9))
    # masks were drawn group by group in plan order: compare on the rows in that order
    reference = reference_loss_and_grads(model, X[plan.order], y[plan.order], keep_masks(drawn, 2))
    compare("compact dropout", fast, reference, order=plan.order)


# -- the reference against central differences --------------------------------------------------------
@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("output,loss", OUTPUTS)
@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_reference_gradients_match_central_differences(activation, output, loss, dropout):
    rng = np.random.default_rng(20)
    config = ModelConfig(input_size=5, hidden_sizes=(4, 3), output_size=3, activation=activation,
                         output_activation=output, loss=loss, dropout=dropout, dtype="float64")
    model = MLP(config, rng)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    masks = [rng.random((6, h)) >= dropout for h in config.hidden_sizes] if dropout else None
    _, _, grads = reference_loss_and_grads(model, X, y, masks)
    loss_at = lambda: reference_loss_and_grads(model, X, y, masks)[0]
    for name, param in model.params.items():
        check(f"reference {config.describe()} dropout {dropout} {name}", grads[name],
              numeric_grad(loss_at, param))


def test_reference_refuses_masks_of_the_wrong_shape():
    model = random_model(0, "relu", "softmax", "cross_entropy", 2, dropout=0.5)
    X, y = random_batch(1, 4, model)
    with pytest.raises(ConfigError, match="one \\(N, H\\) array"):
        reference_loss_and_grads(model, X, y, masks=[np.ones((4, 3))])
