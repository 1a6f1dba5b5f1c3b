"""Load test: N visitors drawing at once on /draw while one visitor trains on /train.

    python benchmarks/load_test.py                       # 10 drawing sessions, 60 s, 2 Chromiums
    python benchmarks/load_test.py --sessions 4 --duration 30 --browsers 1
    python benchmarks/load_test.py --url http://127.0.0.1:8501   # an app already running here

Without --url it starts the app itself (``streamlit run`` on 127.0.0.1, a free port, offline, the
bundled sample unless NN_DATA_DIR is set) and stops it at the end. Only 127.0.0.1 is ever
contacted: any other --url is refused.

Every drawing session is its own browser context (its own Streamlit session), spread over
``--browsers`` headless Chromium processes (Debian's /usr/bin/chromium). Each one loops: draw a
digit (1, 0 or 7, as one mouse stroke on ``canvas.upper-canvas``), wait until the "Prediction"
metric shows that digit, press Clear, wait for the guess to go away, next digit. The round trip is
mouse-up to the updated guess on screen, timed in Python around the browser calls (so it
includes the canvas's ~200 ms debounce and the automation's own latency). A guess that does not
come within 10 s, a wrong guess or a page error counts as an error. Meanwhile one more session
trains the recommended network on /train (unless --no-training).

Bounded: ``--duration`` seconds of drawing (at most 600) and at most ``--max-strokes`` strokes
per session. Prints a Markdown table and writes it to benchmarks/results/load_test.md (``--out``).
"""
import argparse
import asyncio
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                     # run as a script: benchmarks/ is sys.path[0]
    sys.path.insert(0, str(ROOT))

from tests.helpers.browser import (CHROMIUM, CHROMIUM_ARGS_UNTHROTTLED, PREDICTION_JS,  # noqa: E402
                                STROKES, served_app)

GUESS_TIMEOUT_MS = 10_000


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def wait_for_guess(page, expected, timeout_ms):
    """Until the "Prediction" metric shows ``expected`` (None: until there is no guess)."""
    await page.wait_for_function(f"() => ({PREDICTION_JS})() === {json.dumps(expected)}",
                                 timeout=timeout_ms, polling=10)


INK_JS = """cs => cs.some(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 128) return true; return false; })"""


def same_place(a, b):
    return a is not None and all(abs(a[k] - b[k]) < 1 for k in ("x", "y", "width", "height"))


async def draw_stroke(page, box, points):
    """One mouse stroke on the canvas; returns the time of the mouse-up."""
    x0, y0 = box["x"], box["y"]
    await page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    await page.mouse.down()
    for x, y in points[1:]:
        await page.mouse.move(x0 + x, y0 + y, steps=2)
    await page.mouse.up()
    return time.perf_counter()


async def draw_session(index, browser, url, clock, max_strokes, results, ready):
    """One visitor: loads /draw, signals ``ready``, waits for ``clock["go"]``, then draws digits
    until ``clock["stop_at"]``; appends round trips (s) and errors to ``results``."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    errors, trips = results["errors"], results["round_trips"]
    try:
        await page.goto(f"{url}/draw")
        canvas = page.locator("canvas.upper-canvas")
        await canvas.wait_for(timeout=60_000)
        await page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
        await page.wait_for_timeout(500)                     # the component finishes mounting
        box = await canvas.bounding_box()
    except Exception as e:
        errors.append(f"session {index}: page did not load ({type(e).__name__})")
        await context.close()
        ready.set()
        return
    ready.set()
    await clock["go"].wait()
    stop_at = clock["stop_at"]
    digits = list(STROKES)
    strokes = 0
    try:
        while time.monotonic() < stop_at and strokes < max_strokes:
            digit = digits[(index + strokes) % len(digits)]
            for attempt in range(3):
                mouse_up = await draw_stroke(page, box, STROKES[digit])
                # a starved page may not have armed its new canvas yet: the stroke then selects
                # text instead of drawing. Such strokes are redrawn and counted apart; they say
                # nothing about the server.
                if await page.locator("canvas.lower-canvas").evaluate_all(INK_JS):
                    break
                results["redrawn"] += 1
                await page.wait_for_timeout(300)
            strokes += 1
            try:
                await wait_for_guess(page, digit, GUESS_TIMEOUT_MS)
                trips.append(time.perf_counter() - mouse_up)
            except Exception:
                shown = await page.evaluate(PREDICTION_JS)
                if os.environ.get("LOAD_TEST_SHOTS"):
                    await page.screenshot(path=f"{os.environ['LOAD_TEST_SHOTS']}/miss-{index}-{strokes}.png")
                errors.append(f"session {index}: drew {digit}, the page showed {shown!r} "
                              f"after {GUESS_TIMEOUT_MS / 1000:.0f} s")
            # Clear gives a new canvas element: wait until it replaced the old one, or the next
            # stroke would land on a canvas that is going away
            # (the canvas lives in a shadow root: Playwright's locators reach it, querySelector not)
            await canvas.evaluate("c => { c.dataset.old = '1'; }")
            await page.get_by_role("button", name="Clear").click()
            await wait_for_guess(page, None, 15_000)
            remount_deadline = time.monotonic() + 15
            while (await page.locator("canvas.upper-canvas[data-old]").count()
                   or await canvas.count() != 1 or not same_place(await canvas.bounding_box(), box)):
                # while both canvases are on the page the new one sits lower: a stroke aimed
                # there would hit the brush slider
                if time.monotonic() > remount_deadline:
                    raise TimeoutError("the canvas was not back in its place after Clear")
                await page.wait_for_timeout(20)
            await page.wait_for_timeout(100)
    except Exception as e:
        errors.append(f"session {index}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    finally:
        results["strokes"] += strokes
        await context.close()


async def training_session(browser, url):
    """A visitor who starts the recommended training on /train; returns (page, context)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(60_000)
    await page.goto(f"{url}/train")
    await page.get_by_role("heading", name="Train a network").wait_for()
    epochs = page.get_by_role("spinbutton", name="Epochs")
    await epochs.fill("200")
    await epochs.press("Enter")
    await page.get_by_text(re.compile(r"Plan:")).wait_for()
    await page.get_by_role("button", name=re.compile("Start")).click()
    await page.get_by_text(re.compile(r"Step [\d,]+ of")).first.wait_for(timeout=60_000)
    return page, context


async def training_figures(page):
    text = await page.get_by_text(re.compile(r"Step [\d,]+ of")).first.inner_text()
    step = int(re.search(r"Step ([\d,]+)", text).group(1).replace(",", ""))
    return step, text


async def run(args, url):
    from playwright.async_api import async_playwright
    results = {"round_trips": [], "errors": [], "strokes": 0, "redrawn": 0}
    async with async_playwright() as p:
        browsers = []
        for _ in range(args.browsers):                      # each with a fresh temporary profile
            browsers.append(await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS_UNTHROTTLED))
        training = None
        try:
            train_step = None
            if not args.no_training:
                training = await training_session(browsers[0], url)
                train_step = (await training_figures(training[0]))[0]
            readies = [asyncio.Event() for _ in range(args.sessions)]
            clock = {"go": asyncio.Event(), "stop_at": math.inf}

            async def session(i):
                await asyncio.sleep(0.3 * i)                 # visitors arrive over a few seconds
                await draw_session(i, browsers[i % len(browsers)], url, clock,
                                   args.max_strokes, results, readies[i])

            tasks = [asyncio.create_task(session(i)) for i in range(args.sessions)]
            # the clock starts once every session has its page loaded (or failed to)
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 180)
            started = time.monotonic()
            clock["stop_at"] = started + args.duration
            clock["go"].set()
            await asyncio.gather(*tasks)
            wall = time.monotonic() - started
            training_text = ""
            if training is not None:
                try:
                    step, training_text = await training_figures(training[0])
                    results["training_steps"] = step - train_step
                    await training[0].get_by_role("button", name=re.compile("Stop")).click()
                    await training[0].get_by_text(re.compile(r"Stopped at step")).wait_for()
                except Exception as e:               # it finished, or its page broke: say so
                    results["errors"].append(f"training session: {type(e).__name__}: "
                                             f"{str(e).splitlines()[0][:120]}")
            results["wall"] = wall
            results["training_text"] = training_text
        finally:
            if training is not None:
                await training[1].close()
            for browser in browsers:
                await browser.close()
    return results


def report(args, results, url):
    trips = [t * 1000 for t in results["round_trips"]]
    p50, p95 = percentile(trips, 0.5), percentile(trips, 0.95)
    ok = bool(trips) and p95 < 1000 and not results["errors"]
    rows = [
        ("drawing sessions", f"{args.sessions} (in {args.browsers} Chromium process"
                             f"{'es' if args.browsers > 1 else ''})"),
        ("training meanwhile", "no" if args.no_training else
         f"yes, recommended preset: {results.get('training_steps', 0):,} steps during the test"),
        ("duration of drawing", f"{args.duration:.0f} s (the last strokes ended after {results.get('wall', 0):.0f} s)"),
        ("strokes drawn", f"{results['strokes']:,} (+{results['redrawn']} redrawn: the page was "
                          f"not ready for the mouse)"),
        ("guesses timed", f"{len(trips):,}"),
        ("round trip p50", f"{p50:.0f} ms"),
        ("round trip p95", f"{p95:.0f} ms"),
        ("round trip max", f"{max(trips):.0f} ms" if trips else "n/a"),
        ("errors", f"{len(results['errors'])}"),
        ("target (p95 < 1 s, no errors)", "met" if ok else "NOT met"),
    ]
    lines = ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    table = "\n".join(lines)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = (f"## Load test: {args.sessions} drawing sessions"
            f"{'' if args.no_training else ' + 1 training'}\n\n"
            f"`python benchmarks/load_test.py --sessions {args.sessions} --duration {args.duration:.0f}"
            f" --browsers {args.browsers}{' --no-training' if args.no_training else ''}`"
            f" on {time.strftime('%Y-%m-%d')} ({machine}; the server, the training and every "
            f"browser share these cores).\n\n{table}\n")
    if results["errors"]:
        text += "\nErrors (first 10):\n\n" + "\n".join(f"- {e}" for e in results["errors"][:10]) + "\n"
    return text, ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent drawing sessions")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of drawing (max 600)")
    parser.add_argument("--browsers", type=int, default=2, help="Chromium processes to spread "
                                                                "the sessions over")
    parser.add_argument("--max-strokes", type=int, default=500, help="per session")
    parser.add_argument("--no-training", action="store_true", help="no training meanwhile")
    parser.add_argument("--url", help="an app already running on http://127.0.0.1:<port>")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_test.md"),
                        help="Markdown file to write the results to ('' for none)")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 50 or not 1 <= args.browsers <= 8:
        parser.error("use 1-50 sessions and 1-8 browsers")
    if not 1 <= args.duration <= 600 or not 1 <= args.max_strokes <= 10_000:
        parser.error("use a duration of 1-600 s and 1-10,000 strokes per session")
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium")
    with served_app(args.url, "load-test-") as (url, _):
        results = asyncio.run(run(args, url))
    text, ok = report(args, results, url)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
