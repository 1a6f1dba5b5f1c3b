"""Replay a dozen benchmark digits through the real canvas and compare with the offline benchmark.

The full check (100 digits, a report in benchmarks/results/replay.md) is
``python -m benchmarks.fidelity.replay --n 100``; this is its quick version: 6 MNIST test digits
re-drawn as strokes (from the bundled sample when ../shared/datasets is absent) and 6
hand-designed digits, drawn with the mouse at their own brush widths.
"""
import importlib.util

import pytest

from tests.browser.conftest import wait_until_drawable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

N = 12


@pytest.fixture(scope="module")
def predict():
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("scikit-image is not installed (the benchmark skeletonises MNIST digits)")
    from benchmarks.fidelity.replay import ROOT, load_predictor
    return load_predictor(ROOT / "model" / "mnist" / "pretrained.npz")[0]


def ready_draw_page(page, app_url):
    """The benchmark's DrawPage, which also waits for the canvas to take strokes (the pen's
    crosshair) after opening the page and after Clear: its fixed 500 ms and 250 ms are not always
    enough on a busy machine, and a stroke on a canvas not yet set up is lost."""
    from benchmarks.fidelity.replay import DrawPage

    class ReadyDrawPage(DrawPage):
        def open(self):
            super().open()
            wait_until_drawable(self.page, self.canvas)

        def clear(self):
            self.canvas.evaluate("c => { c.dataset.old = '1'; }")
            super().clear()
            fresh = self.page.locator("canvas.upper-canvas:not([data-old])")
            fresh.wait_for()
            wait_until_drawable(self.page, fresh)

    return ReadyDrawPage(page, app_url)


def test_page_guesses_what_the_offline_benchmark_guesses(app_url, page, predict):
    from benchmarks.fidelity.replay import replay, sample

    results = replay(ready_draw_page(page, app_url), sample(N, seed=0), predict, log=print)
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
