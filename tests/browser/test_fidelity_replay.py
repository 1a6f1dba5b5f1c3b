"""Replay a dozen benchmark digits through the real canvas and compare with the offline benchmark.

The full check (100 digits, a report in benchmarks/results/replay.md) is
``python -m benchmarks.fidelity.replay --n 100``; this is its quick version: 6 MNIST test digits
re-drawn as strokes (always the bundled sample's, whatever data the machine has) and 6
hand-designed digits, drawn with the mouse at their own brush widths. Every step waits for what
the page shows or sends (tests/helpers/replay.py), up to WAIT_S seconds: never a fixed time.
"""
import importlib.util

import pytest

from tests.helpers.replay import ROOT, DrawPage, load_predictor, replay, sample

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

N = 12
WAIT_S = 90          # for each thing the page must show or send: generous, a busy machine is slow


@pytest.fixture(scope="module")
def predict():
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("scikit-image is not installed (the benchmark skeletonises MNIST digits)")
    return load_predictor(ROOT / "model" / "mnist" / "pretrained.npz")[0]


def test_page_guesses_what_the_offline_benchmark_guesses(app_url, page, predict):
    page.set_default_timeout(WAIT_S * 1000)
    results = replay(DrawPage(page, app_url, timeout=WAIT_S), sample(N, 0, mnist_folder=None), predict, log=print)
    table = "\n".join(f"{r.set} #{r.index}: label {r.label}, brush {r.brush}, offline {r.offline}, "
                      f"page {r.page}, canvas diff {r.canvas_mean_diff}, {r.seconds:.1f} s {r.error}"
                      for r in results)
    print(table)
    assert len(results) == N
    assert sum(r.agrees for r in results) >= N - 1, table
    # where the offline benchmark reads the digit right, so does the page
    wrong = [r for r in results if r.offline == r.label and r.page != str(r.label)]
    assert not wrong, table
    # the browser drew what the offline renderer draws (a fraction of a grey level on average)
    assert all(r.canvas_mean_diff is not None and r.canvas_mean_diff < 2.0 for r in results), table
    # and the page's 784 pixels are core.drawing's on that image (up to the page's JPEG)
    assert all(r.seen_max_diff is not None and r.seen_max_diff < 3.0 for r in results), table
