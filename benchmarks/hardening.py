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
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from app.inputs.pictures import (
    DECODE_BUDGET_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    decode_cost,
)
from app.runs.line import (
    TrainingBusy,
    max_per_visitor,
    max_trainings,
    running_by_visitor,
    running_count,
)
from app.runs.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
MARGIN_BYTES = 64 * 2**20        # address space the child may take above the budget (libraries, slack)


# -- measuring inside a process ---------------------------------------------------------------------
def status(key):
    """A /proc/self/status figure (VmSize, VmRSS, VmHWM) in bytes."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024


def reset_peak():
    """Reset VmHWM to the current resident size (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def limit_address_space(extra_bytes):
    """Let this process map at most ``extra_bytes`` more than it has now: a runaway allocation
    fails with MemoryError instead of swapping the machine."""
    limit = status("VmSize") + int(extra_bytes)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def release_free_memory():
    """Give memory freed by earlier cases back to the system (glibc keeps large freed blocks),
    so that the next peak counts what that case allocates, not what it could reuse."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measured(function, *args):
    """(outcome text, seconds, peak bytes above the resident memory before) of function(*args)."""
    import gc
    gc.collect()
    release_free_memory()
    reset_peak()
    before = status("VmRSS")
    start = time.perf_counter()
    try:
        outcome = function(*args)
    except MemoryError:
        outcome = "MemoryError"
    except Exception as e:               # the visitor's message, or a bug the caller reports
        outcome = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    return outcome, seconds, max(0, status("VmHWM") - before)


def upload_path(data):
    """What the Draw page does with an upload: decode, then preprocess for MNIST."""
    from app.inputs.pictures import decode_upload
    from core.drawing import options_for, preprocess_image
    grey = decode_upload(data, "The picture")
    result = preprocess_image(grey, options_for("mnist"))
    return f"ok: {grey.shape[1]} x {grey.shape[0]} grey, {'empty' if result.empty else 'a digit'}"


def warm_up_decoders():
    """Load every decoder's library and the preprocessing caches once, so that the limit and the
    peaks count the upload, not the first import of libjpeg or libwebp."""
    from benchmarks.hostile import pillow_picture, png
    for data in (png(40, 30), pillow_picture(40, 30, "RGB", "JPEG"),
                 pillow_picture(40, 30, "RGB", "JPEG", progressive=True),
                 pillow_picture(40, 30, "RGB", "WEBP"), pillow_picture(40, 30, "P", "GIF"),
                 pillow_picture(40, 30, "RGB", "BMP"), png(3000, 2, 6, 16)):
        upload_path(data)


def child_uploads(paths, limit):
    """In a fresh process: warm up, limit the address space, then measure each picture file."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    warm_up_decoders()
    if limit:
        limit_address_space(limit)
    for path in paths:
        data = Path(path).read_bytes()
        outcome, seconds, peak = measured(upload_path, data)
        print(json.dumps({"path": path, "outcome": outcome, "seconds": seconds, "peak": peak}),
              flush=True)
        del data


def run_child(code, timeout=600):
    """Run ``code`` in a fresh interpreter (the project on sys.path, one BLAS thread); returns the
    CompletedProcess. Its JSON lines are the results."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "NN_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def json_lines(completed):
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def measure_uploads(pictures, limit=None):
    """{name: {"outcome", "seconds", "peak", "size"}} for {name: bytes}, in one limited child."""
    limit = DECODE_BUDGET_BYTES + MARGIN_BYTES if limit is None else limit
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for i, (name, data) in enumerate(pictures.items()):
            paths[name] = os.path.join(folder, f"{i}.bin")
            Path(paths[name]).write_bytes(data)
        completed = run_child("from benchmarks.hardening import child_uploads; "
                              f"child_uploads({list(paths.values())!r}, {limit})")
        results = {line["path"]: line for line in json_lines(completed)}
        out = {}
        for name, path in paths.items():
            line = results.get(path) or {"outcome": f"child died: {completed.returncode} "
                                                    f"{completed.stderr[-2000:]}",
                                         "seconds": float("nan"), "peak": 0}
            out[name] = {**line, "size": len(pictures[name])}
        return out


# -- the pictures ------------------------------------------------------------------------------------
class Header:
    """What decode_cost reads from an opened picture, without a picture."""

    def __init__(self, size, mode, fmt, info=None):
        self.size, self.mode, self.format, self.info = size, mode, fmt, info or {}

    def getbands(self):
        return tuple(self.mode.split(";")[0]) if self.mode not in ("I;16", "I", "F") else ("I",)


def largest_side(mode, fmt, data=b"", info=None, aspect=1.0):
    """The largest width (height = width / aspect) that decode_cost accepts, by bisection."""
    lo, hi = 1, 200_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        size = (mid, max(1, round(mid / aspect)))
        fits = (size[0] * size[1] <= MAX_UPLOAD_PIXELS
                and decode_cost(Header(size, mode, fmt, info), data) <= DECODE_BUDGET_BYTES)
        lo, hi = (mid, hi) if fits else (lo, mid - 1)
    return int(lo * 0.995)               # the real file's own bytes count too


def worst_pictures(quick=False):
    """{description: bytes}: the worst pictures we could make, accepted or just refused."""
    from benchmarks.hostile import pillow_picture, png
    fake_png = lambda colour, depth: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(8) + bytes([depth, colour])
    pictures = {
        "the issue's PNG: 900,000 x 1 RGBA": png(900_000, 1, 6, 8),
        "1 x 900,000 grey PNG": png(1, 900_000, 0, 8),
        "30,000,000 x 1 grey PNG": png(30_000_000, 1, 0, 8),
        "49,000,000 x 1 grey PNG (just over the budget)": png(49_000_000, 1, 0, 8),
        "7,000 x 7,000 RGBA PNG (49 MP, the issue's 2.2 GB)": png(7000, 7000, 6, 8),
    }
    side = largest_side("RGBA", "PNG", fake_png(6, 16))
    pictures[f"{side:,} x {side:,} 16-bit RGBA PNG (largest accepted)"] = png(side, side, 6, 16)
    side = largest_side("I;16", "PNG", fake_png(0, 16))
    pictures[f"{side:,} x {side:,} 16-bit grey PNG (largest accepted)"] = png(side, side, 0, 16)
    side = largest_side("P", "PNG", fake_png(3, 8))
    pictures[f"{side:,} x {side:,} palette PNG with transparency (largest accepted)"] = png(
        side, side, 3, 8, transparent=True)
    if not quick:
        side = largest_side("CMYK", "JPEG", info={"progressive": 1, "adobe_transform": 0})
        pictures[f"{side:,} x {side:,} progressive CMYK JPEG (largest accepted)"] = pillow_picture(
            side, side, "CMYK", "JPEG", progressive=True, quality=90)
        side = largest_side("RGBA", "WEBP")
        pictures[f"{side:,} x {side:,} RGBA WebP (largest accepted)"] = pillow_picture(
            side, side, "RGBA", "WEBP", lossless=True)
        side = min(largest_side("RGBA", "BMP"), int((0.95 * MAX_UPLOAD_BYTES / 4) ** 0.5))
        pictures[f"{side:,} x {side:,} RGBA BMP (largest accepted)"] = pillow_picture(
            side, side, "RGBA", "BMP")
    return pictures


def print_uploads(quick=False):
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

    from benchmarks.hostile import model_file, model_file_with_history, npz, weights
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
    import json

    from benchmarks.hostile import _meta
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
    from benchmarks.hostile import model_file
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


# -- 3. simultaneous Starts ------------------------------------------------------------------------------
def small_splits():
    from types import SimpleNamespace

    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.random((2000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    return SimpleNamespace(X_train=X, y_train=y, X_val=X[:200], y_val=y[:200], X_test=X[:200],
                           y_test=y[:200], scaling="unit")


def training_threads(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(f"train-{prefix}") and t.is_alive()]


def simultaneous_starts(splits, trainers, prefix):
    """[(visitor, Trainer)] -> Start on each at the same moment (a barrier releases them);
    returns (visitors started, refusal messages, {"threads": most training threads seen alive,
    "per_visitor": most runs of one visitor}, seconds for all the starts)."""
    from core.model import ModelConfig
    from core.training import TrainConfig
    model_config = ModelConfig(hidden_sizes=(16,))
    long_run = TrainConfig(learning_rate=0.1, epochs=200, batch_size=50)
    barrier = threading.Barrier(len(trainers))
    started, refused = [], []
    peak = {"threads": 0, "per_visitor": 0}
    done = threading.Event()

    def click(i, visitor, trainer):
        barrier.wait()
        try:
            trainer.start(model_config, long_run, splits, dataset="mnist",
                          label=f"{prefix}{visitor}-{i}", visitor=visitor)
            started.append(visitor)
        except TrainingBusy as e:
            refused.append(str(e))

    def watch():                                  # sample while the clicks land
        while not done.is_set():
            peak["threads"] = max(peak["threads"], len(training_threads(prefix)))
            peak["per_visitor"] = max([peak["per_visitor"], *running_by_visitor().values()])
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    clicks = [threading.Thread(target=click, args=(i, v, t)) for i, (v, t) in enumerate(trainers)]
    start = time.perf_counter()
    for c in clicks:
        c.start()
    for c in clicks:
        c.join(30)
    seconds = time.perf_counter() - start
    time.sleep(0.3)                               # a thread started late would show up now
    done.set()
    watcher.join(5)
    peak["threads"] = max(peak["threads"], len(training_threads(prefix)))
    return started, refused, peak, seconds


def three_visitors():
    """20 Start calls: A clicks 7 times in one tab, B has 7 tabs, C two tabs with 3 clicks each."""
    tab_a = Trainer()
    tabs_c = [Trainer(), Trainer()]
    return ([("A", tab_a)] * 7 + [("B", Trainer()) for _ in range(7)]
            + [("C", tabs_c[i % 2]) for i in range(6)])


def print_starts(repeats=20):
    os.environ.setdefault("NN_MAX_TRAININGS", "2")
    os.environ.setdefault("NN_MAX_TRAININGS_PER_VISITOR", "1")
    splits = small_splits()
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


# -- 4. the real server ------------------------------------------------------------------------------
def server_status(pid, key):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024


def print_server(pictures):
    """Upload each picture on the Draw page of a real `streamlit run` server in Chromium; the
    server process's peak resident memory above its resident memory before the upload."""
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, served_app
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
            with open(f"/proc/{server.pid}/clear_refs", "w") as f:
                f.write("5")
            before = server_status(server.pid, "VmRSS")
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
            peak = server_status(server.pid, "VmHWM")
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
