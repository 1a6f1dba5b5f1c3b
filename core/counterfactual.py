"""What would make it a 3, and how little it takes to fool it: gradient steps on the drawing.

Both work on pixels in [0, 1] (784,) and keep them there, with the network reading them in its
scaling (core.explain). They run many small products, so they pin the BLAS to one thread as
training does (core.blas: two threads spin and run these 2-25x slower on a shared 2-core machine).

    counterfactual(model, pixels, target, ...) -> Counterfactual
        gradient ascent on log p(target): a few steps, each one accepted only if it raises
        p(target) (the step is halved until it does), so the probability rises at every step.
    nudge(model, pixels, kind="linf" | "pixels", budget) -> Nudge
        the smallest change that flips the guess: every pixel moved by at most epsilon (the
        smallest epsilon within the budget, by bisection over projected gradient steps), or the
        fewest pixels set to black or white (greedy, largest first-order effect first).
"""
from dataclasses import dataclass

import numpy as np

from . import blas
from .errors import ConfigError
from .explain import backward_to_input, class_scores, input_gradient, probabilities, smooth, trace

CHANGED = 0.1            # a pixel "changed" when it moved by more than a tenth of full ink
NUDGE_KINDS = ("linf", "pixels")
LINF_BUDGET = 0.1        # the faint nudge: no pixel moves by more than 10% of full ink
PIXEL_BUDGET = 20        # the few-pixel nudge: at most 20 of the 784 pixels change


def _pixels(pixels, model):
    x = np.asarray(pixels, dtype=model.dtype).reshape(-1)
    if x.size != model.config.input_size:
        raise ConfigError(f"The network takes {model.config.input_size} pixels; got {x.size}.")
    return np.clip(x, 0, 1)


def _probabilities(model, X, scaling):
    return probabilities(model, trace(model, X, scaling).logits)


def _class(model, target):
    target = int(target)
    if not 0 <= target < model.config.output_size:
        raise ConfigError(f"There is no class {target}: the network has "
                          f"{model.config.output_size} outputs.")
    return target


@dataclass(frozen=True)
class Counterfactual:
    target: int
    path: np.ndarray            # (S+1, 784) the drawing, then the pixels after each step
    probabilities: np.ndarray   # (S+1, K) the class probabilities at each point of the path

    @property
    def pixels(self):
        return self.path[-1]

    @property
    def change(self):
        """(784,) the last pixels minus the drawing: > 0 ink added, < 0 ink taken away."""
        return self.path[-1] - self.path[0]

    @property
    def steps(self):
        return len(self.path) - 1

    def changed(self, threshold=CHANGED):
        """How many pixels moved by more than ``threshold``."""
        return int((np.abs(self.change) > threshold).sum())

    @property
    def largest_change(self):
        return float(np.abs(self.change).max(initial=0.0))

    def mean_change(self, threshold=CHANGED):
        """The mean size of the changes larger than ``threshold`` (0 when there are none)."""
        size = np.abs(self.change)
        big = size[size > threshold]
        return float(big.mean()) if big.size else 0.0


def counterfactual(model, pixels, target, steps=20, step_size=0.05, smoothing=1.0, stop_at=0.9,
                   pen_only=False, scaling="unit"):
    """Gradient ascent on log p(``target``) from ``pixels`` (784,) in [0, 1].

    Each step moves the pixels along the gradient (blurred with a Gaussian of ``smoothing``
    pixels, so the change reads as strokes), scaled so that no pixel moves by more than
    ``step_size``, and clips them to [0, 1] (``pen_only``: to [drawing, 1], ink is only added).
    A step that does not raise p(target) is halved, up to 6 times, then tried with the plain
    gradient; when nothing helps, the ascent stops early. It also stops once p(target) reaches
    ``stop_at``. The probability of ``target`` therefore rises at every step of the path.
    """
    target = _class(model, target)
    x = _pixels(pixels, model)
    low = x.copy() if pen_only else np.zeros_like(x)
    path = [x]
    with blas.threads(blas.training_threads()):
        score, grad = input_gradient(model, x, target, "log_prob", scaling)
        score, grad = score[0], grad[0]
        for _ in range(steps):
            if np.exp(score) >= stop_at:
                break
            accepted = None
            for direction in (smooth(grad, smoothing), grad):
                direction = np.where(((direction > 0) & (x < 1)) | ((direction < 0) & (x > low)),
                                     direction, 0)          # only pixels that can still move
                largest = np.abs(direction).max(initial=0.0)
                if largest <= 0:
                    continue
                size = step_size / largest
                for _halving in range(7):
                    candidate = np.clip(x + size * direction, low, 1)
                    new_score, new_grad = input_gradient(model, candidate, target, "log_prob",
                                                         scaling)
                    if new_score[0] > score:
                        accepted = candidate, new_score[0], new_grad[0]
                        break
                    size /= 2
                if accepted is not None:
                    break
            if accepted is None:
                break                                          # a local maximum within [0, 1]
            x, score, grad = accepted
            path.append(x)
        path = np.stack(path)                                  # (S+1, 784)
        probs = _probabilities(model, path, scaling)
    return Counterfactual(target, path, probs)


@dataclass(frozen=True)
class Nudge:
    kind: str                   # "linf" | "pixels"
    budget: float               # epsilon for "linf", a number of pixels for "pixels"
    original: np.ndarray        # (784,) the drawing
    pixels: np.ndarray          # (784,) the nudged drawing (the last attempt when not flipped)
    before: np.ndarray          # (K,) probabilities of the drawing
    after: np.ndarray           # (K,) probabilities of the nudged drawing
    size: float                 # the epsilon used, or the number of pixels changed

    @property
    def guess(self):
        return int(np.argmax(self.before))

    @property
    def new_guess(self):
        return int(np.argmax(self.after))

    @property
    def flipped(self):
        return self.new_guess != self.guess

    @property
    def change(self):
        return self.pixels - self.original

    def changed(self, threshold=0.0):
        return int((np.abs(self.change) > threshold).sum())


def _guess(model, x, scaling):
    return int(np.argmax(_probabilities(model, x, scaling)[0]))


def _projected_descent(model, x, cls, epsilon, iterations, scaling):
    """Signed-gradient steps down log p(``cls``) within ``epsilon`` of ``x`` (and [0, 1]):
    (pixels, True) as soon as the guess is not ``cls``, else (the last pixels, False)."""
    low, high = np.clip(x - epsilon, 0, 1), np.clip(x + epsilon, 0, 1)
    adversary, step = x.copy(), epsilon / 4
    for _ in range(iterations):
        _, grad = input_gradient(model, adversary, cls, "log_prob", scaling)
        adversary = np.clip(adversary - step * np.sign(grad[0]), low, high)
        if _guess(model, adversary, scaling) != cls:
            return adversary, True
    return adversary, False


def _nudge_linf(model, x, cls, budget, iterations, tolerance, scaling):
    best, flipped = _projected_descent(model, x, cls, budget, iterations, scaling)
    if not flipped:
        return budget, best
    low, high = 0.0, budget
    while high - low > tolerance:                               # bisection on epsilon
        middle = (low + high) / 2
        found, flipped = _projected_descent(model, x, cls, middle, iterations, scaling)
        if flipped:
            high, best = middle, found
        else:
            low = middle
    return float(np.abs(best - x).max()), best


def _nudge_pixels(model, x, cls, budget, scaling):
    """Set one pixel at a time to black or white, the one that most lowers the margin between the
    guess and its strongest rival (to first order), until the guess changes."""
    adversary, used = x.copy(), np.zeros(x.size, bool)
    last = len(model.layers) - 1
    for count in range(1, int(budget) + 1):
        tr = trace(model, adversary, scaling)
        logits = tr.logits[0]
        rival = int(np.argmax(np.where(np.arange(logits.size) == cls, -np.inf, logits)))
        dZ = np.zeros_like(tr.logits)
        dZ[0, cls], dZ[0, rival] = 1, -1                      # margin = z_guess - z_rival
        grad = backward_to_input(model, tr, last, dZ, scaling)[0]
        goal = np.where(grad > 0, 0.0, 1.0).astype(x.dtype)  # the end that lowers the margin
        effect = grad * (goal - adversary)                     # first-order change of the margin
        effect[used] = np.inf
        pixel = int(np.argmin(effect))
        if effect[pixel] >= 0:
            break                                              # no pixel lowers it any more
        adversary[pixel], used[pixel] = goal[pixel], True
        if _guess(model, adversary, scaling) != cls:
            return count, adversary
    return int(used.sum()), adversary


def nudge(model, pixels, kind="linf", budget=None, iterations=20, tolerance=0.005,
          scaling="unit"):
    """The smallest change to ``pixels`` (784,) in [0, 1] that changes the network's guess.

    kind "linf": every pixel may move by at most epsilon; the smallest epsilon <= ``budget``
    (default LINF_BUDGET) that flips the guess, found to ``tolerance`` by bisection, each try
    ``iterations`` signed-gradient steps down log p(guess). kind "pixels": at most ``budget``
    (default PIXEL_BUDGET) pixels set to black or white. Returns a Nudge; ``flipped`` says whether
    the guess changed within the budget.
    """
    if kind not in NUDGE_KINDS:
        raise ConfigError(f"Unknown nudge {kind!r}: choose one of {', '.join(NUDGE_KINDS)}.")
    budget = (LINF_BUDGET if kind == "linf" else PIXEL_BUDGET) if budget is None else budget
    x = _pixels(pixels, model)
    with blas.threads(blas.training_threads()):
        before = _probabilities(model, x, scaling)[0]
        cls = int(np.argmax(before))
        if kind == "linf":
            size, adversary = _nudge_linf(model, x, cls, float(budget), iterations, tolerance,
                                          scaling)
        else:
            size, adversary = _nudge_pixels(model, x, cls, budget, scaling)
        after = _probabilities(model, adversary, scaling)[0]
    return Nudge(kind, float(budget), x, adversary, before, after, float(size))


def log_probability(model, pixels, target, scaling="unit"):
    """log p(``target``) for each row of ``pixels`` (N, 784): the counterfactual's objective."""
    tr = trace(model, pixels, scaling)
    return class_scores(model, tr.logits, np.full(tr.logits.shape[0], target), "log_prob")
