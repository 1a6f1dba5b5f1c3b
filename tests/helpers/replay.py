"""Digits drawn with the mouse on the real Draw page in Chromium, beside the same strokes drawn
offline: what benchmarks/fidelity/replay.py reports on (100 digits) and
tests/browser/test_fidelity_replay.py checks (a dozen).

    draw_page = DrawPage(playwright_page, url, timeout=60)   # opens /draw, waits until drawable
    results = replay(draw_page, sample(12), predict)          # [Replayed]

For each digit: the page's prediction, the offline prediction of the same strokes
(``strokes.render`` -> ``core.drawing.preprocess_canvas`` -> the model), the 784 pixels the page
shows under "What the network receives" against the offline ones, and the canvas image the browser
sent against the offline render. The page is read through its websocket: the rerun the last stroke
triggers carries the canvas, and the messages that answer it carry the Prediction metric and the
28x28 image, so every figure belongs to the finished drawing and not to an update in flight.

Every wait is for something the page shows or sends, up to ``DrawPage.timeout`` seconds: never a
fixed pause, so a busy machine makes a replay slower, not wrong.

The mouse visits points at most ``STEP`` px apart: the canvas (fabric.js PencilBrush) joins the
mouse positions with quadratic curves through their midpoints, the offline renderer with straight
lines, and with points this dense the two paths differ by a small fraction of a pixel.
"""
import base64
import io
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers.browser import ON_CANVAS_JS, PREDICTION_JS, WHAT_IS_AT_JS, wait_until_drawable
from tests.helpers.strokes import MNIST_DIR

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"     # screenshots of failed replays (gitignored)
STEP = 2.5                       # px between mouse positions along a stroke
BRUSH_MIN, BRUSH_MAX = 6, 40     # the Draw page's "Brush width" slider (step 1)
SEEN_CAPTION = "What the network receives"
FINISHED = (0, 3)                # ForwardMsg.ScriptFinishedStatus: successfully, fragment successfully

# for each page point [x, y]: is it the canvas itself (nothing lying over it)?
ALL_ON_CANVAS_JS = f"points => points.map({ON_CANVAS_JS})"


# --------------------------------------------------------------------------- the sample, offline

def sample(n, seed=0, mnist_folder=MNIST_DIR):
    """``n`` digits, half MNIST stroke digits (test digits from ``mnist_folder``; None: the bundled
    sample's) and half hand-designed:
    [(set name, index in its set, label, strokes, brush width as float), ...]."""
    from tests.helpers.strokes import designed_digits, stroke_digits

    mnist = stroke_digits(n - n // 2, seed, mnist_folder)
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
    """(predict (N, 784) float32 in [0, 1] -> (N,) labels, description) for a project model file."""
    from core.modelio import load_model

    saved = load_model(path)
    model = saved.model

    def predict(X):
        if saved.scaling == "symmetric":
            X = X * 2 - 1
        return model.predict_proba(X.astype(np.float32)).argmax(axis=1)

    return predict, saved.describe()


def offline(strokes, brush, predict):
    """(prediction, 784 pixels float32, (280, 280, 4) render) for strokes drawn offline."""
    from core.drawing import preprocess_canvas
    from tests.helpers.strokes import render

    rgba = render(strokes, brush)
    pixels = preprocess_canvas(rgba).pixels
    return int(predict(pixels[None])[0]), pixels, rgba

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
    """The Draw page in a Playwright page: set the brush, draw strokes, read the answer, clear.

    Each step waits for what the page sends or shows (a rerun answered, the metric on screen, a
    canvas that takes strokes), up to ``timeout`` seconds each."""

    def __init__(self, page, url, timeout=20.0):
        self.page, self.url, self.timeout = page, url.rstrip("/"), timeout
        self.socket = Socket(page)
        self.open()

    def open(self):
        page, ms = self.page, self.timeout * 1000
        page.goto(f"{self.url}/draw", timeout=ms)
        page.get_by_text("Draw a digit in the black square").wait_for(timeout=ms)
        # the brush slider lives in a popover whose button says the width ("Brush 20")
        self.brush_button = page.get_by_role("button", name=re.compile(r"^Brush \d+"))
        self.brush_button.wait_for(timeout=ms)
        self._ready(page.locator("canvas.upper-canvas"))

    def _ready(self, canvas):
        """Wait until ``canvas`` takes strokes (it sets its pen up a moment after it appears; a
        stroke before that would be lost), then draw on it."""
        canvas.wait_for(timeout=self.timeout * 1000)
        wait_until_drawable(self.page, canvas, self.timeout)
        self.canvas = canvas

    def brush(self):
        return int(re.search(r"\d+", self.brush_button.inner_text()).group())

    def set_brush(self, value):
        """Open the brush popover, move its slider with the keyboard, wait for the page to rerun
        with it, close the popover."""
        delta = value - self.brush()
        if delta == 0:
            return
        since = self.socket.mark()
        self.brush_button.click()
        thumb = self.page.get_by_role("slider", name="Brush width")
        thumb.wait_for(timeout=self.timeout * 1000)
        thumb.focus()
        for _ in range(abs(delta)):
            thumb.press("ArrowRight" if delta > 0 else "ArrowLeft")
        self.socket.wait_update(self.page, since, _brush_is(value), self.timeout)
        self.page.keyboard.press("Escape")
        self.page.get_by_role("button", name=f"Brush {value}").wait_for(
            timeout=self.timeout * 1000)
        if self.brush() != value:
            raise RuntimeError(f"the brush slider shows {self.brush()}, not {value}")
        wait_until_drawable(self.page, self.canvas, self.timeout)     # the pen has the new width

    def mouse_path(self, strokes):
        """Strokes in canvas pixels -> (page positions for the mouse, the canvas points they give).

        The canvas reads mouse events, whose clientX/clientY are whole CSS pixels (Chromium drops
        the fraction, as a real mouse never has one), so the mouse goes to whole page pixels and
        the canvas receives ``page - canvas corner``: those points are what the offline side draws.
        Every stroke must start on the canvas itself: a press on anything lying over it (the
        canvas toolbar did, over the top strip, until the page moved it; the component's empty
        shadow host does for a moment while it is redrawn) never reaches the canvas, so the replay
        waits for the canvas there and reports this digit's error if it never comes.
        """
        end, scrolled, what = time.monotonic() + self.timeout, False, None
        while True:
            box = self.canvas.bounding_box()
            if box is not None:
                corner = np.array([box["x"], box["y"]])
                page_paths = []
                for stroke in strokes:
                    page = np.round(densify(np.asarray(stroke)) + corner)
                    keep = np.r_[True, np.any(page[1:] != page[:-1], axis=1)]   # no repeated points
                    page_paths.append(page[keep])
                starts = self.page.evaluate(ALL_ON_CANVAS_JS, [p[0].tolist() for p in page_paths])
                covered = [p[0] for p, ok in zip(page_paths, starts) if not ok]
                if not covered:
                    if what is not None:       # the page was still being redrawn: wait for it
                        wait_until_drawable(self.page, self.canvas, self.timeout)
                    return page_paths, [p - corner for p in page_paths]
                what = self.page.evaluate(WHAT_IS_AT_JS, covered[0].tolist())
                if not scrolled:
                    # a canvas scrolled under the page's header is scrolled back into view, as a
                    # visitor would; the component briefly empty while it is redrawn is waited for
                    print(f"a stroke would start on {what}: waiting for the canvas")
                    self.canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
                    scrolled = True
            if time.monotonic() > end:
                raise RuntimeError(f"strokes start at canvas points "
                                   f"{[(p - corner).tolist() for p in covered]}, where something "
                                   f"lies over the canvas: {what}")
            time.sleep(0.1)

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
        update = self.socket.wait_update(self.page, since, _objects_are(len(page_paths)),
                                         self.timeout)
        if update.prediction is not None:       # and the screen shows what the page was told
            self.page.wait_for_function(f"() => ({PREDICTION_JS})() === {json.dumps(update.prediction)}",
                                        timeout=self.timeout * 1000, polling=20)
        return update, moves

    def seen_pixels(self, update):
        """The page's 28x28 input image -> (784,) float in [0, 255] (5x5 block means)."""
        if not update.seen_url:
            return None
        from PIL import Image
        url = urllib.parse.urljoin(self.url + "/", update.seen_url.lstrip("/"))
        for attempt in range(3):
            try:
                response = self.page.request.get(url)
                break
            except Exception as e:
                # a kept-alive connection the server closed just then (ECONNRESET, socket hang
                # up): the GET is asked again on a new one
                if attempt == 2 or not any(s in str(e) for s in ("ECONNRESET", "hang up")):
                    raise
                time.sleep(0.2)
        image = np.asarray(Image.open(io.BytesIO(response.body())).convert("L"), float)
        k = image.shape[0] // 28
        return image[:28 * k, :28 * k].reshape(28, k, 28, k)[:, 1:-1, :, 1:-1].mean((1, 3)).ravel()

    def clear(self):
        """Press Clear; wait until the guess is gone and a new canvas takes strokes."""
        ms = self.timeout * 1000
        self.canvas.evaluate("c => { c.dataset.old = '1'; }")       # Clear mounts a new canvas
        since = self.socket.mark()
        self.page.get_by_role("button", name="Clear").click(timeout=ms)
        self.socket.wait_update(self.page, since, lambda rerun: True, self.timeout)
        self.page.wait_for_function(f"() => ({PREDICTION_JS})() === null", timeout=ms)
        self._ready(self.page.locator("canvas.upper-canvas:not([data-old])"))


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
