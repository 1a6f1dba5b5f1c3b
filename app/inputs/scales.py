"""[from app/links.py]
Shareable links and lessons: every Train setting in the URL, and the Home page's guided lessons.

A link like ``/train?dataset=mnist&hidden=10&learning_rate=5&optimizer=sgd&show=learning_rate``
opens the Train page with those settings; ``show`` (optional) keeps only the named controls on
screen (a lesson that lets students change just the learning rate), and ``lesson`` names one of
``LESSONS``, whose steps, question and what to look for the page then shows. A link never holds the
visitor's session (that is a cookie, app.visitor).

    read_link(params) -> Link          settings, controls to show, lesson, and what was refused
    link_query(settings, show, lesson) -> {param: text}      the query string of a link
    LESSONS                            the guided lessons (Home lists them)
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
