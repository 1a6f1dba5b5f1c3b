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

The mouse visits points at most ``STEP`` px apart: the canvas (fabric.js PencilBrush) joins the
mouse positions with quadratic curves through their midpoints, the offline renderer with straight
lines, and with points this dense the two paths differ by a small fraction of a pixel.
"""
import argparse
import base64
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ON_CANVAS_JS,
    PREDICTION_JS,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"     # screenshots of failed replays (gitignored)
STEP = 2.5                       # px between mouse positions along a stroke
BRUSH_MIN, BRUSH_MAX = 6, 40     # the Draw page's "Brush width" slider (step 1)
SEEN_CAPTION = "What the network receives"
FINISHED = (0, 3)                # ForwardMsg.ScriptFinishedStatus: successfully, fragment successfully

# for each page point [x, y]: is it the canvas itself (nothing lying over it)?
ALL_ON_CANVAS_JS = f"points => points.map({ON_CANVAS_JS})"


# --------------------------------------------------------------------------- the sample, offline

def sample(n, seed=0):
    """``n`` digits, half MNIST stroke digits and half hand-designed:
    [(set name, index in its set, label, strokes, brush width as float), ...]."""
    from .strokes import designed_digits, stroke_digits

    mnist = stroke_digits(n - n // 2, seed)
    designed = designed_digits(n // 2, seed)
    return ([("mnist", i, label, s, b) for i, (label, s, b) in enumerate(mnist)]
            + [("designed", i, label, s, b) for i, (label, s, b) in enumerate(designed)])


def slider_brush(brush):
    """The slider value that draws ``brush``: whole pixels within the slider's range."""
    return int(min(BRUSH_MAX, max(BRUSH_MIN, round(brush))))


def densify(points, step=STEP):
    """A polyline (k, 2) -> the same polyline with points at most ``step`` px apart."""
    points = np.asarray(points, float).reshape(-1, 2)
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:]):
        pieces = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        t = np.arange(1, pieces + 1)[:, None] / pieces
        out.append(a + (b - a) * t)
    return np.vstack(out)


def load_predictor(path):
    """(predict (N, 784) -> labels, description) for a model file, as the offline benchmark does."""
    from .__main__ import load_predictor as load
    return load(path)


def offline(strokes, brush, predict):
    """(prediction, 784 pixels float32, (280, 280, 4) render) for strokes drawn offline."""
    from core.drawing import preprocess_canvas

    from .strokes import render

    rgba = render(strokes, brush)
    pixels = preprocess_canvas(rgba).pixels
    return int(predict(pixels[None])[0]), pixels, rgba


# --------------------------------------------------------------------------- the app

@contextmanager
def running_app(model_dir=None, timeout=90):
    """Start ``streamlit run streamlit_app.py`` on a free 127.0.0.1 port (offline; models from a
    temporary copy of ``model_dir``, default the repo's model/); yield its URL; stop it."""
    tmp = Path(tempfile.mkdtemp(prefix="replay-"))
    server = None
    try:
        shutil.copytree(Path(model_dir or ROOT / "model"), tmp / "model")
        server, url = start_server(tmp / "streamlit.log", env={"NN_MODEL_DIR": str(tmp / "model")},
                                   timeout=timeout)
        yield url
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)


def check_local(url):
    host = urllib.parse.urlsplit(url).hostname
    if host != "127.0.0.1":
        raise SystemExit(f"--url must be an app on 127.0.0.1 (got {host!r})")


# --------------------------------------------------------------------------- the page

@dataclass
class Update:
    """What one finished rerun of the Draw page said."""
    prediction: str | None = None
    seen_url: str | None = None          # the 28x28 image under "What the network receives"
    model_caption: str | None = None
    canvas_objects: int | None = None    # paths on the canvas when the rerun was asked for
    canvas_png: bytes | None = None      # the canvas image the browser sent
    started: bool = False                # the run answering the rerun has begun


@dataclass
class Replayed:
    """One digit drawn on the page, and what each side made of it."""
    set: str
    index: int
    label: int
    brush: int
    strokes: int
    mouse_moves: int = 0
    offline: int | None = None           # offline, on the points the canvas received
    offline_exact: int | None = None     # offline, on the benchmark's own (fractional) points
    page: str | None = None              # the page's "Prediction"
    canvas_offline: int | None = None    # offline pipeline on the canvas image the browser sent
    pixels_max_diff: float | None = None  # page's 784 pixels vs offline, grey levels (0-255)
    pixels_shifted_diff: float | None = None  # the same, best of the 9 whole-pixel shifts
    seen_max_diff: float | None = None   # page's 784 pixels vs offline on the browser's canvas
    canvas_mean_diff: float | None = None  # browser canvas vs offline render, mean |RGB|
    seconds: float = 0.0
    error: str = ""

    @property
    def agrees(self):
        return self.page is not None and self.page == str(self.offline)


class Socket:
    """Records the Draw page's websocket traffic, parsed with Streamlit's own protobufs."""

    def __init__(self, page):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        self.BackMsg, self.ForwardMsg = BackMsg, ForwardMsg
        self.frames = []                 # ("sent" | "recv", message)
        page.on("websocket", self._attach)

    def _attach(self, ws):
        ws.on("framesent", lambda data: self._add("sent", data))
        ws.on("framereceived", lambda data: self._add("recv", data))

    def _add(self, kind, data):
        if isinstance(data, str):
            return
        try:
            msg = (self.BackMsg if kind == "sent" else self.ForwardMsg).FromString(data)
        except Exception:                # not a Streamlit message
            return
        self.frames.append((kind, msg))

    def mark(self):
        return len(self.frames)

    def summary(self, since=0):
        """One line per message from frame ``since`` (for debugging)."""
        lines = []
        for kind, msg in self.frames[since:]:
            what = msg.WhichOneof("type")
            if kind == "sent" and what == "rerun_script":
                canvas = [w.id.split("-")[-1] for w in msg.rerun_script.widget_states.widgets
                          if "draw_canvas_" in w.id]
                what += f" {canvas} objects={_canvas_state(msg.rerun_script).canvas_objects}"
            elif what == "script_finished":
                what += f" {msg.script_finished}"
            elif what == "delta":
                what += " " + str(msg.delta.WhichOneof("type"))
            lines.append(f"{kind} {what}")
        return lines

    def wait_update(self, page, since, want, timeout=20.0):
        """Wait for the first rerun sent after frame ``since`` for which ``want(rerun_script)``
        holds, then for the run that answers it to finish; return its Update."""
        deadline = time.monotonic() + timeout
        asked = None
        update = None
        i = since
        while True:
            while i < len(self.frames):
                kind, msg = self.frames[i]
                i += 1
                if kind == "sent" and msg.WhichOneof("type") == "rerun_script":
                    if want(msg.rerun_script):
                        asked, update = i, _canvas_state(msg.rerun_script)
                    elif asked is not None:          # a later rerun replaces ours: follow it
                        asked, update = i, _canvas_state(msg.rerun_script)
                elif kind == "recv" and asked is not None:
                    kind_ = msg.WhichOneof("type")
                    if kind_ == "new_session":
                        update.prediction = update.seen_url = update.model_caption = None
                        update.started = True
                    elif kind_ == "delta" and update.started:
                        _read_delta(msg.delta, update)
                    elif kind_ == "script_finished" and update.started:
                        if msg.script_finished in FINISHED:
                            return update
                        update.started = False           # interrupted: wait for the next run
            if time.monotonic() > deadline:
                raise TimeoutError("no finished update of the Draw page"
                                   + (" (no rerun was asked for)" if asked is None else ""))
            page.wait_for_timeout(15)


def _canvas_state(rerun):
    update = Update()
    for widget in rerun.widget_states.widgets:
        if "draw_canvas_" in widget.id and widget.WhichOneof("value") == "json_value":
            drawing = (json.loads(widget.json_value) or {}).get("drawing") or {}
            update.canvas_objects = len((drawing.get("raw") or {}).get("objects") or [])
            data = drawing.get("data")
            if data and ";base64," in data:
                update.canvas_png = base64.b64decode(data.split(";base64,", 1)[1])
    return update


def _read_delta(delta, update):
    if delta.WhichOneof("type") != "new_element":
        return
    element = delta.new_element
    kind = element.WhichOneof("type")
    if kind == "metric" and element.metric.label == "Prediction":
        update.prediction = element.metric.body
    elif kind == "imgs":
        for img in element.imgs.imgs:
            if img.caption.startswith(SEEN_CAPTION):
                update.seen_url = img.url
    elif kind == "markdown" and element.markdown.body.startswith("Model:"):
        update.model_caption = element.markdown.body


def _brush_is(value):
    def want(rerun):
        for widget in rerun.widget_states.widgets:
            if widget.id.endswith("-draw_brush"):
                return list(widget.double_array_value.data) == [float(value)]
        return False
    return want


def _objects_are(count):
    def want(rerun):
        return _canvas_state(rerun).canvas_objects == count
    return want


class DrawPage:
    """The Draw page in a Playwright page: set the brush, draw strokes, read the answer, clear."""

    def __init__(self, page, url):
        self.page, self.url = page, url.rstrip("/")
        self.socket = Socket(page)
        self.open()

    def open(self):
        page = self.page
        page.goto(f"{self.url}/draw")
        self.canvas = page.locator("canvas.upper-canvas")
        self.canvas.wait_for()
        page.get_by_text("Draw a digit in the black square").wait_for()
        self.thumb = (page.locator('[data-testid="stSlider"]').filter(has_text="Brush width")
                      .locator('input[type="range"]'))
        self.thumb.wait_for(state="attached")
        page.wait_for_timeout(500)                   # let the component finish mounting

    def brush(self):
        return int(float(self.thumb.input_value()))

    def set_brush(self, value):
        """Move the slider with the keyboard, then wait for the page to rerun with it."""
        delta = value - self.brush()
        if delta == 0:
            return
        since = self.socket.mark()
        self.thumb.focus()
        for _ in range(abs(delta)):
            self.thumb.press("ArrowRight" if delta > 0 else "ArrowLeft")
        self.socket.wait_update(self.page, since, _brush_is(value))
        if self.brush() != value:
            raise RuntimeError(f"the brush slider shows {self.brush()}, not {value}")

    def mouse_path(self, strokes):
        """Strokes in canvas pixels -> (page positions for the mouse, the canvas points they give).

        The canvas reads mouse events, whose clientX/clientY are whole CSS pixels (Chromium drops
        the fraction, as a real mouse never has one), so the mouse goes to whole page pixels and
        the canvas receives ``page - canvas corner``: those points are what the offline side draws.
        Every stroke must start on the canvas itself: a press on anything lying over it (the
        canvas toolbar did, over the top strip, until the page moved it) never reaches the canvas,
        so that is reported as this digit's error rather than drawn.
        """
        box = self.canvas.bounding_box()
        corner = np.array([box["x"], box["y"]])
        page_paths = []
        for stroke in strokes:
            page = np.round(densify(np.asarray(stroke)) + corner)
            keep = np.r_[True, np.any(page[1:] != page[:-1], axis=1)]   # no repeated points
            page_paths.append(page[keep])
        starts = self.page.evaluate(ALL_ON_CANVAS_JS, [p[0].tolist() for p in page_paths])
        covered = [(p[0] - corner).tolist() for p, ok in zip(page_paths, starts) if not ok]
        if covered:
            raise RuntimeError(f"strokes start at canvas points {covered}, where something lies "
                               "over the canvas")
        return page_paths, [p - corner for p in page_paths]

    def draw(self, page_paths):
        """Draw strokes given in page positions; return (Update for the finished drawing, moves)."""
        mouse = self.page.mouse
        since = moves = 0
        for k, points in enumerate(page_paths):
            mouse.move(*points[0])
            mouse.down()
            for x, y in points[1:]:
                mouse.move(x, y)
            moves += len(points)
            if k == len(page_paths) - 1:
                since = self.socket.mark()
            mouse.up()
        update = self.socket.wait_update(self.page, since, _objects_are(len(page_paths)))
        if update.prediction is not None:       # and the screen shows what the page was told
            self.page.wait_for_function(f"() => ({PREDICTION_JS})() === {json.dumps(update.prediction)}",
                                        timeout=10_000, polling=20)
        return update, moves

    def seen_pixels(self, update):
        """The page's 28x28 input image -> (784,) float in [0, 255] (5x5 block means)."""
        if not update.seen_url:
            return None
        from PIL import Image
        response = self.page.request.get(urllib.parse.urljoin(self.url + "/", update.seen_url.lstrip("/")))
        image = np.asarray(Image.open(io.BytesIO(response.body())).convert("L"), float)
        k = image.shape[0] // 28
        return image[:28 * k, :28 * k].reshape(28, k, 28, k)[:, 1:-1, :, 1:-1].mean((1, 3)).ravel()

    def clear(self):
        since = self.socket.mark()
        self.page.get_by_role("button", name="Clear").click()
        self.socket.wait_update(self.page, since, lambda rerun: True)
        self.page.wait_for_function(f"() => ({PREDICTION_JS})() === null", timeout=10_000)
        self.page.wait_for_timeout(250)              # the new canvas mounts


def replay(draw_page, digits, predict, log=None):
    """Replay ``digits`` ([(set, index, label, strokes, brush)]) on a DrawPage -> [Replayed]."""
    from PIL import Image

    from core.drawing import preprocess_canvas

    results = []
    # fewest slider moves: by brush width (the order of digits changes nothing else)
    for set_name, index, label, strokes, brush in sorted(digits, key=lambda d: slider_brush(d[4])):
        width = slider_brush(brush)
        started = time.perf_counter()
        result = Replayed(set_name, index, label, width, len(strokes))
        update = Update()
        mark = draw_page.socket.mark()
        try:
            page_paths, canvas_paths = draw_page.mouse_path(strokes)
            result.offline, pixels, rgba = offline(canvas_paths, width, predict)
            result.offline_exact = offline([np.asarray(st) for st in strokes], width, predict)[0]
            started = time.perf_counter()
            draw_page.set_brush(width)
            update, result.mouse_moves = draw_page.draw(page_paths)
        except Exception as e:           # one broken replay is a result, not the end of the run
            result.error = f"{type(e).__name__}: {e}"
            ARTIFACTS.mkdir(exist_ok=True)
            draw_page.page.screenshot(path=str(ARTIFACTS / f"replay-error-{set_name}-{index}.png"))
            if log:
                log("\n".join(["websocket since the digit started:"]
                               + [x for x in draw_page.socket.summary(mark) if "delta" not in x]))
        result.seconds = time.perf_counter() - started
        result.page = update.prediction
        browser_pixels = None
        if update.canvas_png:
            browser_rgba = np.asarray(Image.open(io.BytesIO(update.canvas_png)).convert("RGBA"))
            result.canvas_mean_diff = float(np.abs(browser_rgba[..., :3].astype(float)
                                                   - rgba[..., :3]).mean())
            browser_pixels = preprocess_canvas(browser_rgba).pixels
            result.canvas_offline = int(predict(browser_pixels[None])[0])
        seen = draw_page.seen_pixels(update) if not result.error else None
        if seen is not None:
            result.pixels_max_diff = float(np.abs(seen - pixels * 255).max())
            result.pixels_shifted_diff = min(                        # the digit one pixel over
                float(np.abs(seen.reshape(28, 28) - np.roll(pixels.reshape(28, 28) * 255,
                                                            (dy, dx), (0, 1))).max())
                for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            if browser_pixels is not None:
                result.seen_max_diff = float(np.abs(seen - browser_pixels * 255).max())
        results.append(result)
        if log:
            log(f"{len(results):3d}/{len(digits)} {set_name:8s} #{index:<4d} label {label} brush "
                f"{width:2d}: offline {result.offline}, page {result.page}, "
                f"{result.seconds:.1f} s" + ("" if result.agrees else "  <-- DISAGREE")
                + (f"  {result.error}" if result.error else ""))
        try:
            draw_page.clear()
        except Exception as e:
            if log:
                log(f"Clear failed ({e}); reloading the page")
            draw_page.open()
    return results


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
