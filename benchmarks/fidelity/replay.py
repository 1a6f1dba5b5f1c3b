"""Browser check: replay stroke digits through the real Draw page and compare with the offline benchmark.

    python -m benchmarks.fidelity.replay --n 100            # starts the app on 127.0.0.1 itself
    python -m benchmarks.fidelity.replay --n 100 --url http://127.0.0.1:8501

A sample of the benchmark's digits (half ``stroke_digits``, MNIST test digits re-drawn as strokes;
half ``designed_digits``) is drawn with Playwright mouse moves on the canvas of the Draw page in
Chromium, with the "Brush width" slider set to each digit's brush width (rounded to a whole pixel,
the slider's step). For each digit it records

    * the page's prediction (the "Prediction" metric),
    * the offline prediction for the same strokes: ``strokes.render`` -> ``core.drawing
      .preprocess_canvas`` -> the shipped model (``--model``), with the same whole-pixel brush,
    * the 784 pixels the page shows under "What the network receives" against the offline ones,
    * the canvas image the browser sent to the server against the offline render.

It reads the page through its websocket: the rerun the last stroke triggers carries the canvas
(its objects and PNG), and the messages that answer it carry the Prediction metric and the 28x28
image, so every figure belongs to the finished drawing and not to an update in flight; the
metric on screen is checked against it too. Writes ``benchmarks/results/replay.md``.

The replay itself (DrawPage, replay, sample) is tests/helpers/replay.py, shared with
tests/browser/test_fidelity_replay.py. The mouse visits points at most ``STEP`` px apart: the
canvas (fabric.js PencilBrush) joins the mouse positions with quadratic curves through their
midpoints, the offline renderer with straight lines, and with points this dense the two paths
differ by a small fraction of a pixel.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.helpers.replay import STEP, DrawPage, load_predictor, replay, sample

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the app

@contextmanager
def running_app(timeout=90):
    """The app on a free 127.0.0.1 port (offline, models in a temporary copy of model/); yields its
    URL and stops it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="replay-"))
    try:
        with served(folder, "replay", timeout=timeout) as (url, _):
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_local(url):
    host = urllib.parse.urlsplit(url).hostname
    if host != "127.0.0.1":
        raise SystemExit(f"--url must be an app on 127.0.0.1 (got {host!r})")


# --------------------------------------------------------------------------- the report

def report(results, command, description, model_caption, wall):
    n = len(results)
    agree = sum(r.agrees for r in results)
    seconds = [r.seconds for r in results]
    pixel = [r.pixels_max_diff for r in results if r.pixels_max_diff is not None]
    canvas = [r.canvas_mean_diff for r in results if r.canvas_mean_diff is not None]
    lines = [
        "# Browser replay: the Draw page against the offline fidelity benchmark",
        "",
        f"Command: `{command}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; Chromium (headless) with Playwright mouse moves "
        f"every {STEP} px; offline model: {description}; the page's model caption: "
        f"\"{model_caption}\".",
        "",
        "| | |",
        "|---|---|",
        f"| digits replayed | {n} ({sum(r.set == 'mnist' for r in results)} MNIST stroke digits, "
        f"{sum(r.set == 'designed' for r in results)} hand-designed), brush "
        f"{min(r.brush for r in results)}-{max(r.brush for r in results)} px |",
        f"| **page agrees with offline** | **{agree}/{n} = {agree / max(n, 1):.1%}** (target 99%) |",
        f"| page correct (label) | {sum(r.page == str(r.label) for r in results)}/{n} |",
        f"| offline correct (label) | {sum(r.offline == r.label for r in results)}/{n} |",
        f"| offline pipeline on the browser's canvas image agrees with offline | "
        f"{sum(r.canvas_offline == r.offline for r in results)}/{n} |",
        f"| offline on whole-pixel mouse points agrees with offline on the benchmark's fractional "
        f"points | {sum(r.offline == r.offline_exact for r in results)}/{n} |",
    ]
    if seconds:
        lines.append(f"| time per digit (slider, strokes, update) | median {statistics.median(seconds):.2f} s, "
                     f"max {max(seconds):.2f} s; {wall:.0f} s in all with Clear |")
        moves = [r.mouse_moves for r in results]
        lines.append(f"| mouse moves per digit | median {statistics.median(moves):.0f}, "
                     f"max {max(moves)} |")
    if pixel:
        lines.append(f"| page's 784 pixels vs offline, largest difference per digit (grey levels "
                     f"0-255; the page sends a JPEG) | median {statistics.median(pixel):.1f}, "
                     f"max {max(pixel):.1f} |")
    shifted = [r.pixels_shifted_diff for r in results if r.pixels_shifted_diff is not None]
    if shifted:
        lines.append(f"| the same, allowing the digit to sit one whole pixel over (the centre of "
                     f"mass rounds to whole pixels) | median {statistics.median(shifted):.1f}, "
                     f"max {max(shifted):.1f}; {sum(p > 64 for p in pixel)} digits over 64 "
                     f"without the shift, {sum(p > 64 for p in shifted)} with it |")
    seen = [r.seen_max_diff for r in results if r.seen_max_diff is not None]
    if seen:
        lines.append(f"| page's 784 pixels vs core.drawing on the browser's own canvas image, "
                     f"largest difference (JPEG error only) | median {statistics.median(seen):.1f}, "
                     f"max {max(seen):.1f} |")
    if canvas:
        lines.append(f"| browser canvas vs offline render, mean RGB difference per digit (grey "
                     f"levels) | median {statistics.median(canvas):.2f}, max {max(canvas):.2f} |")
    lines += ["", "How to read it: the page's guess is read from its websocket (the rerun the last "
              "stroke triggers and the run that answers it) and checked on screen. The mouse "
              "goes to whole CSS pixels, as a real mouse does (the canvas reads mouse events, "
              "whose coordinates are whole pixels), and the offline side renders exactly the "
              "points the canvas received. The canvas (fabric.js) joins them with quadratic "
              "curves, the offline renderer with straight lines; at this density the two images "
              "differ by about half a grey level on average, at stroke edges. core.drawing makes "
              "whole-pixel decisions (the ink's bounding box at a threshold, stroke width evened "
              "out in whole steps, the centre of mass rounded to a whole pixel), so such a "
              "difference now and then changes a few of the 784 pixels a lot (the largest-pixel "
              "rows) without changing the guess.", "", "## Disagreements and failures", ""]
    bad = [r for r in results if not r.agrees or r.error]
    if not bad:
        lines.append("None.")
    else:
        lines += ["| set | # | label | brush | offline | page | offline on browser canvas | "
                  "pixels max diff | canvas mean diff | error |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in bad:
            lines.append(f"| {r.set} | {r.index} | {r.label} | {r.brush} | {r.offline} | {r.page} | "
                         f"{r.canvas_offline} | {_fmt(r.pixels_max_diff)} | "
                         f"{_fmt(r.canvas_mean_diff)} | {r.error} |")
    return "\n".join(lines) + "\n"


def _fmt(x):
    return "" if x is None else f"{x:.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="digits to replay (half MNIST strokes, "
                                                             "half hand-designed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="an app already running on 127.0.0.1 (else one is started)")
    parser.add_argument("--model", default=str(ROOT / "model" / "mnist" / "pretrained.npz"),
                        help="the model the offline side uses (the page uses its own)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "replay.md"))
    args = parser.parse_args(argv)
    if args.url:
        check_local(args.url)

    from playwright.sync_api import sync_playwright

    predict, description = load_predictor(args.model)
    digits = sample(args.n, args.seed)
    command = "python -m benchmarks.fidelity.replay " + " ".join(argv if argv is not None else sys.argv[1:])
    with (running_app() if not args.url else _given(args.url)) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.set_default_timeout(20_000)
                draw_page = DrawPage(page, url)
                started = time.perf_counter()
                results = replay(draw_page, digits, predict,
                                 log=lambda s: print(s, file=sys.stderr, flush=True))
                wall = time.perf_counter() - started
                caption = _caption(draw_page)
            finally:
                browser.close()
    text = report(results, command.strip(), description, caption, wall)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    agree = sum(r.agrees for r in results)
    return 0 if agree >= 0.99 * len(results) else 1


def _caption(draw_page):
    for kind, msg in reversed(draw_page.socket.frames):
        if kind == "recv" and msg.WhichOneof("type") == "delta":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "markdown" and element.markdown.body.startswith("Model:"):
                return element.markdown.body.rstrip(".")
    return "?"


@contextmanager
def _given(url):
    yield url


if __name__ == "__main__":
    sys.exit(main())
