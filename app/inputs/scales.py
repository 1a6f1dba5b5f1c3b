"""The steps of the Train form's sliders (learning rate on a log scale, batch sizes, L2), and
``nearest``: the step closest to any value a preset or a link names.
"""
import math

LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                  0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
BATCH_SIZES = [1, 8, 16, 32, 64, 100, 128, 256, 512, 1024, 4096, "full"]
WEIGHT_DECAYS = [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1]


def nearest(choices, value):
    """The numeric choice closest to ``value`` on a log scale (slider values are log-spaced)."""
    numbers = [c for c in choices if isinstance(c, (int, float))]
    return min(numbers, key=lambda c: abs(math.log(c + 1e-12) - math.log(value + 1e-12)))
