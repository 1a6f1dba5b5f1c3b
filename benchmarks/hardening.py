"""What a hostile visitor can cost the server (issue 16), measured.

    python -m benchmarks.hardening [--quick] [--server]

1. Pictures: the worst pictures we could make (1 x 900,000 strips, the largest RGBA / 16-bit /
   palette PNG, progressive CMYK JPEG and WebP the budget accepts, and ones just above it), each
   decoded and preprocessed in a fresh process under an address-space limit
   (RLIMIT_AS = what the process had + DECODE_BUDGET_BYTES + 64 MB): peak resident memory above
   the process before the upload, time, and what the visitor is told.
2. Model files: the worst model files (a history of 32M and 1M entries, the largest weights a
   file may hold, a zip of duplicates): time and peak memory to load each.
3. The training cap: 20 Start calls at once from 3 visitors (threads released together by a
   barrier), the most trainings seen running at any moment, per visitor and in all.
4. (--server) The real server: each worst picture uploaded on the Draw page of `streamlit run`
   in Chromium; the server process's peak resident memory during the upload.

Peaks are VmHWM from /proc/self/status after resetting it (``/proc/self/clear_refs``), minus the
resident memory just before: the memory the upload itself made the process take. Linux only.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The cases and the measuring are shared with the hardening tests (tests/helpers/): hostile files,
# /proc readers and fresh limited children, the worst pictures, simultaneous Starts.
from tests.helpers.procs import (json_lines, limit_address_space, measured,  # noqa: E402
                                 reset_peak, run_child, status)
from tests.helpers.runs import simultaneous_starts, three_visitors  # noqa: E402
from tests.helpers.splits import random_splits  # noqa: E402
from tests.helpers.uploads import MARGIN_BYTES, measure_uploads, worst_pictures  # noqa: E402


def print_uploads(quick=False):
    from app.inputs.pictures import DECODE_BUDGET_BYTES
    results = measure_uploads(worst_pictures(quick))
    print(f"\n## 1. Pictures (decode_upload + preprocess_image in a fresh process, freed memory "
          f"given back between pictures; budget {DECODE_BUDGET_BYTES / 2**20:.0f} MB, address "
          f"space limited to the process + budget + {MARGIN_BYTES / 2**20:.0f} MB)\n")
    print("| picture | file | peak memory above the process | time | outcome |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['size'] / 1024:,.0f} KB | {r['peak'] / 2**20:,.1f} MB | "
              f"{r['seconds']:.2f} s | {r['outcome'][:110]} |")
    return results


# -- 2. model files ----------------------------------------------------------------------------------
def worst_model_files():
    """{description: bytes}: the worst model files we could make."""
    import numpy as np

    from tests.helpers.hostile import model_file, model_file_with_history, npz, weights
    from core.modelio import HISTORY_FIELDS, MAX_FILE_BYTES
    files = {
        "history of 32,000,000 entries (like the issue's 1.1 MB file)": model_file_with_history(32_000_000),
        "history of 1,000,000 records x 9 fields (like the issue's 2.2 MB file)":
            model_file_with_history(1_000_000, fields=HISTORY_FIELDS),
        "history of 800,000 records x 9 fields, random values (58 MB)": model_file(
            history={f: np.random.default_rng(0).random(800_000) for f in HISTORY_FIELDS}),
    }
    hidden = (4096, 3072)                      # 15.8M parameters: 63.3 MB, just under 64 MiB
    files["784-4096-3072-10 of zeros (largest network a file may hold, 0.1 MB)"] = model_file(
        hidden=hidden, value=0.0)
    rng = np.random.default_rng(0)
    members = [(name, (rng.standard_normal(a.shape) * 0.01).astype(np.float32) if "W" in name else a)
               for name, a in weights(hidden)]
    from tests.helpers.hostile import _meta
    import json
    meta = _meta(hidden)
    meta.pop("_sizes")
    data = npz([("meta.npy", np.array(json.dumps(meta)))] + members)
    if len(data) <= MAX_FILE_BYTES:
        files[f"784-4096-3072-10 of random weights ({len(data) / 2**20:.0f} MB file)"] = data
    files["784-4096-4096-1024-10 of zeros (larger than a file may hold)"] = model_file(
        hidden=(4096, 4096, 1024), value=0.0)
    return files


def child_models(paths, limit):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from core.modelio import load_model
    load_model(Path(paths[0]).read_bytes()[:0] or _tiny_model())       # warm up the imports
    if limit:
        limit_address_space(limit)
    for path in paths:
        def load():
            saved = load_model(path)
            return f"ok: {saved.model.num_parameters:,} parameters, {len(saved.history):,} records"
        outcome, seconds, peak = measured(load)
        print(json.dumps({"path": path, "outcome": outcome, "seconds": seconds, "peak": peak}),
              flush=True)


def _tiny_model():
    from tests.helpers.hostile import model_file
    return model_file()


def measure_model_files(files, limit=1024 * 2**20):
    """{name: {"outcome", "seconds", "peak", "size"}}: each file loaded from disk in one child
    limited to ``limit`` bytes of address space above what it had."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for i, (name, data) in enumerate(files.items()):
            paths[name] = os.path.join(folder, f"{i}.npz")
            Path(paths[name]).write_bytes(data)
        completed = run_child("from benchmarks.hardening import child_models; "
                              f"child_models({list(paths.values())!r}, {limit})")
        results = {line["path"]: line for line in json_lines(completed)}
        return {name: {**(results.get(path) or {"outcome": completed.stderr[-2000:],
                                                 "seconds": float("nan"), "peak": 0}),
                       "size": len(files[name])} for name, path in paths.items()}


def print_model_files():
    results = measure_model_files(worst_model_files())
    print("\n## 2. Model files (load_model from disk, one fresh process, address space limited to "
          "+1 GB)\n")
    print("| file | size | time | peak memory above the process | outcome |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['size'] / 2**20:,.1f} MB | {r['seconds']:.2f} s | "
              f"{r['peak'] / 2**20:,.0f} MB | {r['outcome'][:110]} |")
    return results


def child_app_loads(folder, names):
    """In a fresh process: the Train page in AppTest with ``folder`` as the model folder; for each
    saved model name, click Load and measure (time, peak above the process before the click)."""
    os.environ.update(NN_MODEL_DIR=folder, NN_OFFLINE="1")
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest
    original = PagesManager.__init__

    def init(self, *args, **kwargs):                  # st.navigation mode, as tests/conftest.py
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    PagesManager.__init__ = init
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.switch_page("pages/train.py").run()
    for name in names:
        at.selectbox(key="train.load_name").set_value(name).run()

        def click():
            at.button(key="train.load").click().run()
            shown = " ".join(str(e.value) for e in (*at.success, *at.error))
            return shown.split(". Draw")[0][:110]
        outcome, seconds, peak = measured(click)
        print(json.dumps({"name": name, "outcome": outcome, "seconds": seconds, "peak": peak}),
              flush=True)


def print_app_loads():
    """The worst accepted model files loaded with the Train page's Load button (AppTest): reading
    the file, measuring its accuracy on the test images, drawing the page again."""
    files = worst_model_files()
    picks = {"random": next(k for k in files if "random weights" in k),
             "history": next(k for k in files if "800,000" in k),
             "million": next(k for k in files if "1,000,000 records" in k)}
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "mnist"))
        for short, key in picks.items():
            Path(folder, "mnist", f"{short}.npz").write_bytes(files[key])
        completed = run_child("from benchmarks.hardening import child_app_loads; "
                              f"child_app_loads({folder!r}, {list(picks)!r})")
    print("\n### Load in the app (Train page, Load button, AppTest; includes measuring the test "
          "accuracy and redrawing the page)\n")
    print("| file | time | peak memory above the app before the click | page says |")
    print("|---|---|---|---|")
    lines = {line["name"]: line for line in json_lines(completed)}
    for short, key in picks.items():
        r = lines.get(short, {"outcome": completed.stderr[-300:], "seconds": float("nan"), "peak": 0})
        print(f"| {key} | {r['seconds']:.2f} s | {r['peak'] / 2**20:,.0f} MB | {r['outcome']} |")


def print_starts(repeats=20):
    from app.runs.line import max_per_visitor, max_trainings, running_count
    os.environ.setdefault("NN_MAX_TRAININGS", "2")
    os.environ.setdefault("NN_MAX_TRAININGS_PER_VISITOR", "1")
    splits = random_splits(2000)
    rows = []
    for i in range(repeats):
        trainers = three_visitors()
        started, refused, peak, seconds = simultaneous_starts(splits, trainers, f"bench{i}-")
        rows.append((len(started), len(set(started)), len(refused), peak["threads"],
                     peak["per_visitor"], seconds))
        for _, t in trainers:
            t.stop()
        for _, t in trainers:
            t.join(10)
        while running_count():
            time.sleep(0.02)
    print(f"\n## 3. 20 simultaneous Start calls from 3 visitors ({repeats} rounds; cap "
          f"{max_trainings()}, {max_per_visitor()} per visitor)\n")
    print("| started (visitors) | refused | most training threads alive | most per visitor | "
          "time for the 20 calls |")
    print("|---|---|---|---|---|")
    for started, visitors, refused, threads, per_visitor, seconds in rows[:3]:
        print(f"| {started} ({visitors}) | {refused} | {threads} | {per_visitor} | "
              f"{seconds * 1000:.0f} ms |")
    print(f"\nOver {repeats} rounds: started {min(r[0] for r in rows)}-{max(r[0] for r in rows)}, "
          f"most threads alive {max(r[3] for r in rows)}, most per visitor {max(r[4] for r in rows)}.")
    return rows


def print_server(pictures):
    """Upload each picture on the Draw page of a real `streamlit run` server in Chromium; the
    server process's peak resident memory above its resident memory before the upload."""
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served_app
    print("\n## 4. The real server: an upload on the Draw page in Chromium\n")
    print("| picture | server before | server peak during the upload | above before | page shows |")
    print("|---|---|---|---|---|")
    with served_app(log_prefix="hardening-") as (url, server), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, data in pictures.items():
            page = browser.new_page()
            page.goto(url + "/draw")
            uploader = page.get_by_role("region", name="Or upload a picture").get_by_test_id(
                "stFileUploaderDropzoneInput")
            uploader.wait_for(state="attached", timeout=60_000)
            page.wait_for_timeout(1500)                    # the page settles (model, warm-up)
            reset_peak(server.pid)
            before = status("VmRSS", server.pid)
            uploader.set_input_files(
                files=[{"name": "worst.png", "mimeType": "image/png", "buffer": data}])
            shown = "nothing within 60 s"
            end = time.monotonic() + 60
            while time.monotonic() < end:
                if page.get_by_text("as the network sees it").count():
                    shown = "the picture as the network sees it"
                    break
                texts = page.locator("[data-testid='stAlert']").all_inner_texts()
                refusal = next((t for t in texts if "“worst.png”" in t), None)
                if refusal:
                    shown = refusal.replace("\n", " ")[:100]
                    break
                page.wait_for_timeout(100)
            peak = status("VmHWM", server.pid)
            print(f"| {name} | {before / 2**20:,.0f} MB | {peak / 2**20:,.0f} MB | "
                  f"{(peak - before) / 2**20:,.0f} MB | {shown} |")
            page.close()
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller cases")
    parser.add_argument("--server", action="store_true",
                        help="also upload the worst pictures to a real server in Chromium")
    args = parser.parse_args()
    pictures = print_uploads(args.quick)
    print_model_files()
    print_app_loads()
    print_starts(5 if args.quick else 20)
    if args.server:
        worst = worst_pictures(args.quick)
        print_server({name: worst[name] for name in pictures
                      if not pictures[name]["outcome"].startswith("DrawingError: The picture is a")})


if __name__ == "__main__":
    main()
