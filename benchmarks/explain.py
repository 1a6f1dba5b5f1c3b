"""How fast the "why" views are on the shipped MNIST model (issue 12), and how fragile it is.

    python -m benchmarks.explain [--digits 50] [--repeats 5]

On model/mnist/pretrained.npz and the first ``--digits`` test digits (the bundled sample's; the
same images the tests use), one process, times as the app runs them (float32, the BLAS as
core.counterfactual and core.dreams pin it); median (min-max) over the digits (for the saliency
and the diagram, each digit's figure is itself the median of repeated calls):

    saliency           core.explain.saliency of the guess (gradient x input), one drawing
    counterfactual     core.counterfactual.counterfactual, each digit towards another class
    nudge              core.counterfactual.nudge, "linf" (budget 0.1) and "pixels" (budget 20),
                       on the digits the model is at least 90% sure of: time and share flipped
    10 class dreams    core.dreams.class_dreams, all ten classes
    diagram            app.why.network_diagram + its Arrow table + a unit's details: the
                       Python side of one Draw stroke with the diagram open (Streamlit's own
                       work comes on top: the browser test records the page's server time)
    conv net           model/mnist/convnet.npz: the feature maps (every stage, the PNG
                       thumbnails, the chart's table), the default map's arithmetic and input
                       gradient, its guess: the Python side of a stroke with the maps open
                       (tests/browser/test_conv_browser.py records the page's server time to
                       artifacts/conv_why_timing.json); and its saliency

It prints a Markdown table with the issue's targets. The machine has 2 cores shared with other
work: figures vary by 2x between runs; run it twice before believing a miss.

    python -m benchmarks.explain --page 10 [--url http://127.0.0.1:PORT]

instead draws each of the three stroke digits (tests/helpers/browser.py) 10 times on the real Draw
page in headless Chromium, each time once with "Why did it say that?" open on the network
diagram and once with it closed, and reads the server time the page reports for each stroke:
the pairs share the machine's load of the moment. Median (min-max) of each, and the median of
the paired differences (what the diagram costs a stroke).
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(function, repeats):
    """Seconds per call of ``function()``: a list of ``repeats`` timings."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def spread(seconds, unit="ms"):
    factor = 1000.0 if unit == "ms" else 1.0
    values = [s * factor for s in seconds]
    digits = 2 if unit == "ms" else 3
    return (f"{statistics.median(values):.{digits}f} {unit} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


SERVER_MS_JS = """() => {
    const p = [...document.querySelectorAll('p')].find(e => e.textContent.startsWith('Server time'));
    const m = p && p.textContent.match(/([\\d.]+) ms/);
    return m ? parseFloat(m[1]) : null;
}"""
INVITATION = "to see why the network guesses what it does"


def page_figures(rounds, url=None):
    """Server time per stroke on the Draw page with the network diagram open and closed."""
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import (CHROMIUM, CHROMIUM_ARGS, PREDICTION_JS, STROKES,
                                    served_app)

    def wait_prediction(page, expected):
        page.wait_for_function(f"() => ({PREDICTION_JS})() === {json.dumps(expected)}",
                               timeout=30_000, polling=10)

    def ready(page):
        canvas = page.locator("canvas.upper-canvas:not([data-old])")
        canvas.wait_for()
        for wiggle in range(300):          # the pen's crosshair: the canvas takes strokes
            box = canvas.bounding_box()    # (the page may still be moving)
            if box is not None:
                page.mouse.move(box["x"] + 140 + wiggle % 2, box["y"] + 140)
                if canvas.evaluate("c => c.style.cursor") == "crosshair":
                    return canvas
            page.wait_for_timeout(50)
        raise RuntimeError("the canvas never took strokes")

    def draw(page, canvas, points):
        box = canvas.bounding_box()
        previous = page.evaluate(SERVER_MS_JS)
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
        page.mouse.up()
        return previous

    times = {"open": [], "closed": []}
    with served_app(url, "explain-page-") as (base, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(30_000)
        page.goto(f"{base}/draw")
        canvas, is_open = ready(page), False
        for _ in range(rounds):
            for digit, points in STROKES.items():
                for state in ("open", "closed"):
                    if is_open != (state == "open"):
                        page.get_by_text("Why did it say that?").click()
                        is_open = not is_open
                        page.get_by_text(INVITATION).wait_for(
                            state="visible" if is_open else "hidden")
                    previous = draw(page, canvas, points)
                    wait_prediction(page, digit)
                    page.wait_for_function(
                        f"() => ({SERVER_MS_JS})() !== {json.dumps(previous)}")
                    times[state].append(page.evaluate(SERVER_MS_JS))
                    canvas.evaluate("c => { c.dataset.old = '1'; }")
                    page.get_by_role("button", name="Clear").click()
                    wait_prediction(page, None)
                    canvas = ready(page)
        browser.close()
    differences = [o - c for o, c in zip(times["open"], times["closed"])]
    print(f"Draw page, server time per stroke, {len(times['open'])} pairs of strokes:\n")
    print("| diagram | median (min-max) |")
    print("|---|---|")
    for state in ("open", "closed"):
        print(f"| {state} | {spread([t / 1000 for t in times[state]])} |")
    print(f"| open minus closed, paired | {spread([d / 1000 for d in differences])} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=50, help="test digits (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the dreams (5)")
    parser.add_argument("--page", type=int, metavar="ROUNDS",
                        help="time strokes on the Draw page in Chromium instead")
    parser.add_argument("--url", help="an app already running on 127.0.0.1 (with --page)")
    args = parser.parse_args(argv)
    if args.page:
        page_figures(args.page, args.url)
        return

    from app.render.why import as_table, network_diagram, unit_details
    from core.counterfactual import LINF_BUDGET, PIXEL_BUDGET, counterfactual, nudge
    from core.datasets import CLASS_NAMES, load_dataset
    from core.dreams import class_dreams
    from core.explain import saliency, trace
    from core.modelio import load_model

    saved = load_model(ROOT / "model" / "mnist" / "pretrained.npz")
    model, scaling = saved.model, saved.scaling
    raw = load_dataset("mnist", data_dir=None, download=False)            # the bundled sample
    X = raw.test_images[:args.digits].astype(np.float32) / 255.0
    guesses = model.predict(X)
    names = CLASS_NAMES["mnist"]
    rows = []

    saliency(model, X[0], int(guesses[0]), scaling=scaling)                # first-call set-up
    per_digit = [statistics.median(timed(lambda: saliency(model, x, int(g), scaling=scaling), 20))
                 for x, g in zip(X, guesses)]
    rows.append(("saliency of the guess, one drawing", spread(per_digit), "< 5 ms"))

    times, reached, steps = [], [], []
    for i, (x, g) in enumerate(zip(X, guesses)):
        target = (int(g) + 1 + i % 9) % 10
        start = time.perf_counter()
        result = counterfactual(model, x, target, scaling=scaling)
        times.append(time.perf_counter() - start)
        reached.append(result.probabilities[-1, target] >= 0.5)
        steps.append(result.steps)
    rows.append((f"counterfactual towards another class ({len(X)} digits; median "
                 f"{statistics.median(steps):.0f} steps, target above 50% for "
                 f"{np.mean(reached):.0%})", spread(times), "<= 0.5 s"))

    confident = np.flatnonzero(model.predict_proba(X).max(axis=1) >= 0.9)
    for kind, budget in (("linf", LINF_BUDGET), ("pixels", PIXEL_BUDGET)):
        times, flipped = [], []
        for i in confident:
            start = time.perf_counter()
            result = nudge(model, X[i], kind, budget, scaling=scaling)
            times.append(time.perf_counter() - start)
            flipped.append(result.flipped)
        what = "every pixel by at most 0.1" if kind == "linf" else f"at most {budget} pixels"
        rows.append((f"nudge, {what}: flips {np.mean(flipped):.0%} of {len(confident)} "
                     "confident guesses", spread(times), ""))

    class_dreams(model, np.random.default_rng(0), scaling=scaling, steps=5)
    dream_times = timed(lambda: class_dreams(model, np.random.default_rng(0), scaling=scaling),
                        args.repeats)
    rows.append(("10 class dreams (300 steps each, together)", spread(dream_times, "s"), "<= 2 s"))

    def stroke(x):
        tr = trace(model, x, scaling)
        diagram = network_diagram(model, x, scaling, names, tr=tr)
        as_table(diagram.rows)
        unit_details(model, tr, diagram.default, names, scaling)

    stroke(X[0])
    per_digit = [statistics.median(timed(lambda: stroke(x), 5)) for x in X]
    rows.append(("network diagram + unit details, one stroke (Python side)", spread(per_digit),
                 "(page: < 60 ms)"))

    convnet_path = ROOT / "model" / "mnist" / "convnet.npz"
    if convnet_path.exists():
        from app.render.feature_maps import feature_maps_chart
        from app.views.conv import default_map, dense_activations
        from core.explain import probabilities
        from core.explain_conv import feature_stages, map_arithmetic, map_input_gradient, strongest
        conv = load_model(convnet_path)
        cmodel, cscaling = conv.model, conv.scaling

        def conv_stroke(x):
            stages = feature_stages(cmodel, x, cscaling)
            tr = trace(cmodel, x, cscaling)
            spec, _ = feature_maps_chart(stages, dense_activations(cmodel, tr),
                                         probabilities(cmodel, tr.logits)[0], names)
            as_table(spec["data"]["values"])
            s, c = (int(p) for p in default_map(stages).split(":"))
            map_arithmetic(stages, s, c, *strongest(stages[s], c))
            map_input_gradient(cmodel, x, stages[s], c, cscaling)
            cmodel.predict_proba(x[None])                          # the guess beside the MLP's

        conv_stroke(X[0])
        per_digit = [statistics.median(timed(lambda: conv_stroke(x), 3)) for x in X]
        rows.append((f"conv net ({cmodel.config.layers}): feature maps + a map's details, one "
                     "stroke (Python side)", spread(per_digit), "(page: < 100 ms)"))
        conv_saliency = [statistics.median(timed(
            lambda: saliency(cmodel, x, 0, scaling=cscaling), 3)) for x in X[:10]]
        rows.append(("conv net: saliency, one drawing", spread(conv_saliency), ""))

    print(f"Shipped MNIST model {model.config.describe()}, {len(X)} test digits of "
          f"{raw.describe()}\n")
    print("| figure | median (min-max) | target |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
