"""core.explain, core.counterfactual and core.dreams: input gradients checked against central
differences in float64 (relative error < 1e-6, like tests/test_gradients.py) for every activation,
output and scaling; then what a visitor would notice on the shipped MNIST model: a counterfactual
raises its target's probability at every step, a nudge flips most confident guesses within its
budget, and each class dream is read as its class."""
import numpy as np
import pytest

from core.activations import HIDDEN_ACTIVATIONS
from core.counterfactual import (
    CHANGED,
    LINF_BUDGET,
    PIXEL_BUDGET,
    counterfactual,
    log_probability,
    nudge,
)
from core.dreams import class_dreams, class_means
from core.errors import ConfigError
from core.explain import (
    input_gradient,
    output_sensitivity,
    saliency,
    smooth,
    trace,
    unit_input_gradient,
)
from core.model import MLP, ModelConfig
from tests.conftest import ROOT, needs_model
from tests.test_gradients import check, numeric_grad

OUTPUTS = [("softmax", "cross_entropy"), ("softmax", "mse"), ("sigmoid", "mse")]
CASES = [(act, out, loss, score, scaling) for act in sorted(HIDDEN_ACTIVATIONS)
         for out, loss in OUTPUTS for score in ("logit", "log_prob")
         for scaling in ("unit", "symmetric")]


def small_model(activation="relu", output="softmax", loss="cross_entropy", hidden=(6, 5),
                inputs=9, seed=0, dropout=0.0):
    config = ModelConfig(input_size=inputs, hidden_sizes=hidden, output_size=4,
                         activation=activation, output_activation=output, loss=loss,
                         dropout=dropout, dtype="float64")
    return MLP(config, np.random.default_rng(seed))


def pixels_away_from_kinks(model, rng, n=3, scaling="unit"):
    """Random pixels in (0, 1) whose hidden pre-activations are not within 1e-3 of ReLU's kink,
    where central differences would straddle two slopes."""
    for _ in range(100):
        X = rng.uniform(0.05, 0.95, (n, model.config.input_size))
        if all(np.abs(Z).min() > 1e-3 for Z in trace(model, X, scaling).pre[:-1]):
            return X
    raise AssertionError("no input away from the kinks")


# -- gradients against central differences ---------------------------------------------------------
@pytest.mark.parametrize("activation,output,loss,score,scaling", CASES)
def test_input_gradient_matches_central_differences(activation, output, loss, score, scaling):
    rng = np.random.default_rng(1)
    model = small_model(activation, output, loss)
    X = pixels_away_from_kinks(model, rng, scaling=scaling)
    classes = np.array([0, 2, 3])
    scores, grads = input_gradient(model, X, classes, score, scaling)
    assert scores.shape == (3,) and grads.shape == X.shape
    total = lambda: float(input_gradient(model, X, classes, score, scaling)[0].sum())  # noqa: E731
    numeric = numeric_grad(total, X)
    check(f"{model.config.describe()} {score} {scaling}", grads, numeric)


@pytest.mark.parametrize("output,loss", OUTPUTS)
def test_log_prob_is_the_log_of_the_probabilities_the_app_shows(output, loss):
    model = small_model("tanh", output, loss)
    X = np.random.default_rng(2).random((5, 9))
    shown = model.predict_proba(X)                   # normalised sigmoids for a sigmoid output
    for k in range(4):
        np.testing.assert_allclose(log_probability(model, X, k), np.log(shown[:, k]), rtol=1e-12)


def test_no_hidden_layer_gradient_is_the_weight_column():
    model = small_model(hidden=())
    X = np.random.default_rng(3).random((2, 9))
    _, grads = input_gradient(model, X, 1, "logit", "symmetric")
    np.testing.assert_allclose(grads, np.tile(2 * model.params["layers.0.W"][:, 1], (2, 1)))
    numeric = numeric_grad(lambda: float(input_gradient(model, X, 1, "log_prob")[0].sum()), X)
    check("784-10 log_prob", input_gradient(model, X, 1, "log_prob")[1], numeric)


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_a_units_input_gradient_and_its_effect_on_the_outputs(activation):
    rng = np.random.default_rng(4)
    model = small_model(activation, hidden=(6, 5, 4))
    x = pixels_away_from_kinks(model, rng, n=1)
    # d z / d pixels for unit 2 of hidden layer 2 (weight layer 1)
    grad = unit_input_gradient(model, x, 1, 2)
    numeric = numeric_grad(lambda: float(trace(model, x).pre[1][0, 2]), x)
    check(f"{activation} unit gradient", grad, numeric[0])
    np.testing.assert_allclose(unit_input_gradient(model, x, 0, 3, "symmetric"),
                               2 * model.params["layers.0.W"][:, 3])
    # d logits / d a for unit 1 of hidden layer 1: the rest of the network run from that layer
    tr = trace(model, x)
    a = tr.inputs[1].copy()                                      # (1, 6)

    def logits_from_layer_1():
        A = a
        for layer in model.layers[1:-1]:
            A = model.activation.forward(layer.forward(A))
        return model.layers[-1].forward(A)[0]

    sensitivity = output_sensitivity(model, tr, 0, 1)
    for k in range(4):
        numeric = numeric_grad(lambda: float(logits_from_layer_1()[k]), a)[0, 1]
        check(f"{activation} d logit {k} / d a", np.array([sensitivity[k]]), np.array([numeric]))
    # the last hidden layer's effect is its outgoing weights
    np.testing.assert_allclose(output_sensitivity(model, tr, 2, 3), model.params["layers.3.W"][3])


def test_saliency_methods_and_dropout_is_off():
    model = small_model(dropout=0.5)
    x = np.zeros(9)
    x[[1, 4, 7]] = [1.0, 0.5, 0.25]
    gradient = saliency(model, x, 2, "gradient")
    _, expected = input_gradient(model, x, 2, "logit")
    np.testing.assert_allclose(gradient, expected[0])
    times_input = saliency(model, x, 2, "gradient_x_input", "symmetric")
    assert (times_input[x == 0] == 0).all(), "a blank pixel never counts, in either scaling"
    np.testing.assert_allclose(times_input, x * saliency(model, x, 2, "gradient", "symmetric"))
    again = saliency(model, x, 2, "gradient")                    # no random dropout mask
    np.testing.assert_array_equal(gradient, again)
    with pytest.raises(ConfigError, match="saliency"):
        saliency(model, x, 2, "occlusion")


def test_wrong_inputs_say_what_is_wrong():
    model = small_model()
    with pytest.raises(ConfigError, match="9 pixels"):
        input_gradient(model, np.zeros(10), 0)
    with pytest.raises(ConfigError, match="score"):
        input_gradient(model, np.zeros(9), 0, "probability")
    with pytest.raises(ConfigError, match="no class 7"):
        counterfactual(model, np.zeros(9), 7)
    with pytest.raises(ConfigError, match="nudge"):
        nudge(model, np.zeros(9), "l2")
    with pytest.raises(TypeError, match="random generator"):
        class_dreams(model, rng=0)


def test_smooth_keeps_flat_pictures_flat_and_leaves_other_shapes_alone():
    flat = np.full((2, 784), 0.3)
    np.testing.assert_allclose(smooth(flat, 1.5), flat)
    dot = np.zeros(784)
    dot[14 * 28 + 14] = 1.0
    blurred = smooth(dot, 1.0)
    assert blurred.sum() == pytest.approx(1.0) and blurred.max() < 0.2
    assert blurred.reshape(28, 28)[14, 13] == pytest.approx(blurred.reshape(28, 28)[13, 14])
    odd = np.arange(10.0)
    assert smooth(odd, 1.0) is odd and smooth(dot, 0) is dot


# -- on the shipped MNIST model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    from core.datasets import load_dataset
    from core.modelio import load_model
    saved = load_model(ROOT / "model" / "mnist" / "pretrained.npz")
    raw = load_dataset("mnist", data_dir=None, download=False)              # the bundled sample
    X = raw.test_images.astype(np.float32) / 255.0
    return saved, X, raw.test_labels


@needs_model
def test_counterfactual_raises_the_target_at_every_step(shipped):
    saved, X, _ = shipped
    model = saved.model
    guesses = model.predict(X[:50])
    reached, changed = [], []
    for i in range(50):
        target = (int(guesses[i]) + 1 + i % 9) % 10              # every other class in turn
        result = counterfactual(model, X[i], target, scaling=saved.scaling)
        p = result.probabilities[:, target]
        assert result.steps >= 1, f"digit {i}: no step raised p({target})"
        assert np.all(np.diff(p) > 0), f"digit {i}, target {target}: p went {np.round(p, 4)}"
        assert result.path.min() >= 0 and result.path.max() <= 1
        np.testing.assert_allclose(result.probabilities, model.predict_proba(result.path),
                                   rtol=1e-5, atol=1e-7)
        reached.append(p[-1] >= 0.5)
        changed.append(result.changed())
    print(f"counterfactual: {np.mean(reached):.0%} of 50 digits end with the target above 50%; "
          f"median {np.median(changed):.0f} pixels changed by more than {CHANGED}")
    assert np.mean(reached) >= 0.8


@needs_model
def test_pen_only_counterfactual_never_erases(shipped):
    saved, X, _ = shipped
    result = counterfactual(saved.model, X[0], 3, pen_only=True)
    assert (result.change >= 0).all()
    assert result.probabilities[-1, 3] > result.probabilities[0, 3]


def confident_digits(model, X, count=50, threshold=0.9):
    P = model.predict_proba(X[:500])
    chosen = np.flatnonzero(P.max(axis=1) >= threshold)[:count]
    assert chosen.size == count
    return chosen


@needs_model
@pytest.mark.parametrize("kind, budget", [("linf", LINF_BUDGET), ("pixels", PIXEL_BUDGET)])
def test_nudge_flips_most_confident_guesses_within_its_budget(shipped, kind, budget):
    saved, X, _ = shipped
    model = saved.model
    results = [nudge(model, X[i], kind, scaling=saved.scaling)
               for i in confident_digits(model, X)]
    for result in results:
        if kind == "linf":
            assert np.abs(result.change).max() <= budget + 1e-6
        else:
            assert result.changed() <= budget
            assert set(np.unique(result.pixels[result.change != 0])) <= {0.0, 1.0}
        assert result.flipped == (int(model.predict(result.pixels[None])[0]) != result.guess)
        assert result.pixels.min() >= 0 and result.pixels.max() <= 1
    share = np.mean([r.flipped for r in results])
    sizes = [r.size for r in results if r.flipped]
    print(f"nudge {kind} (budget {budget:g}): flips {share:.0%} of 50 confident guesses "
          f"(>= 90%); median size {np.median(sizes):.3g}")
    assert share > 0.5, "most confident guesses flip within the budget"


@needs_model
def test_class_dreams_of_the_shipped_model_are_read_as_their_class(shipped):
    saved, _, _ = shipped
    dreams = class_dreams(saved.model, np.random.default_rng(0), scaling=saved.scaling)
    assert dreams.shape == (10, 784) and dreams.min() >= 0 and dreams.max() <= 1
    np.testing.assert_array_equal(saved.model.predict(dreams), np.arange(10))
    again = class_dreams(saved.model, np.random.default_rng(0), scaling=saved.scaling)
    np.testing.assert_array_equal(dreams, again)
    assert 0.01 < dreams.mean() < 0.3, "mostly dark, with some ink: a picture, not a grey fog"


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_readable_dreams_start_from_the_class_average_and_are_sure_of_their_class(dataset):
    """Issue 21: dreams from grey read as blobs for 1, 2, 5, 6, 7 (and for every Fashion-MNIST
    class). From the class average, pulled back towards it, each dream is still read as its class
    with high probability, and looks more like its own class's average than any other's."""
    from core.datasets import read_sample
    from core.modelio import load_model
    path = ROOT / "model" / dataset / "pretrained.npz"
    if not path.exists():
        pytest.skip(f"the shipped {dataset} model is not built yet")
    saved = load_model(path)
    raw = read_sample(dataset)                                       # the bundled sample
    means = class_means(raw.train_images.reshape(len(raw.train_images), -1), raw.train_labels, 10)
    dreams = class_dreams(saved.model, np.random.default_rng(0), scaling=saved.scaling,
                          prior=means)
    assert dreams.shape == (10, 784) and dreams.min() >= 0 and dreams.max() <= 1
    sure = saved.model.predict_proba(dreams)[np.arange(10), np.arange(10)]
    assert sure.min() >= 0.8, f"p(own class) of each dream: {np.round(sure, 3)}"
    of_means = saved.model.predict_proba(means)[np.arange(10), np.arange(10)]
    assert (sure >= of_means - 1e-6).all(), "the ascent raised (or kept) each class's probability"
    distance = np.linalg.norm(dreams[:, None, :] - means[None, :, :], axis=2)    # (dream, mean)
    np.testing.assert_array_equal(distance.argmin(axis=1), np.arange(10),
                                  err_msg=f"nearest class average of each dream:\n{distance}")
    assert np.abs(dreams - means).max() > 0.2, "the dreams are not just the averages"


def test_class_means_of_uint8_and_float_images_agree_and_an_empty_class_is_black():
    images = np.array([[0, 255], [255, 255], [51, 0]], np.uint8)
    labels = np.array([0, 0, 2])
    means = class_means(images, labels, 3)
    np.testing.assert_allclose(means, [[0.5, 1.0], [0.0, 0.0], [0.2, 0.0]], atol=1e-6)
    np.testing.assert_allclose(class_means(images / 255.0, labels, 3), means, atol=1e-6)
    with pytest.raises(ValueError, match="a picture of 784 pixels for every class"):
        class_dreams(MLP(ModelConfig(hidden_sizes=(4,)), np.random.default_rng(0)),
                     np.random.default_rng(0), prior=means)


def test_class_dreams_of_a_784_10_10_network():
    from core.training import TrainConfig, train
    from tests.helpers.splits import sample_splits
    _, splits = sample_splits("mnist", 1000)        # pinned: the figures below are the sample's
    config = TrainConfig(learning_rate=0.005, epochs=1, batch_size=128, optimizer="adam",
                         validation_size=1000)
    model, _ = train(ModelConfig(hidden_sizes=(10,)), splits, config)
    assert model.evaluate(splits.X_test, splits.y_test)[1] > 0.8
    dreams = class_dreams(model, np.random.default_rng(1))
    assert dreams.shape == (10, 784)
    np.testing.assert_array_equal(model.predict(dreams), np.arange(10))
