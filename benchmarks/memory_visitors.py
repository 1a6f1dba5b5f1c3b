"""Does a class leave memory behind? Server RSS while 10 visitors open the app, train and leave.

    python benchmarks/memory_visitors.py                 # 10 visitors, 2 waves, keep time 20 s
    python benchmarks/memory_visitors.py --visitors 4 --waves 1 --epochs 1 --watch 5   # quick
    python benchmarks/memory_visitors.py --max-trainings 2    # the default cap: they train in turns

It starts the app (tests/helpers/browser.py's served_app: ``streamlit run`` on 127.0.0.1, a free
port, offline) and reads the server's resident memory, its child processes included (a training
worker process counts as the server's), from /proc twice a second. Then, per wave, ``--visitors``
protocol visitors (tests/helpers/protocol.py's websocket clients, no browser; each a visitor of
its own, without a cookie) arrive half a second apart; each opens the app on Home, goes to /train,
sets Epochs to ``--epochs`` on the recommended preset (784-256-128-10 Adam), presses Start, watches
the run for ``--watch`` seconds as a browser does (auto reruns of the live view), and leaves by
closing its websocket without pressing Stop: a run still going then stops after the trainer's
disconnect grace (app/runs/job.py DISCONNECT_GRACE), one that finished is kept for a reload.

The server keeps a visitor's work for a reload for NN_VISITOR_KEEP_SECONDS (app/visitor.py,
default 30 minutes) and Streamlit keeps a closed session for server.disconnectedSessionTTL
(default 2 minutes); both are set to ``--keep`` seconds (default 20) here, so that "after the
cleanup" comes within a benchmark. First one visitor looks around without training (Home,
Train, Draw) and leaves, and the memory is read after the cleanup time: what a server keeps once
for all. After each wave it waits ``keep + a quarter of it (the
visitor sweeper) + the disconnect grace + 10 s`` and reads the memory again. A second wave shows
whether what stays is per visitor (it would grow wave after wave) or once per server (the
datasets and the shipped models in st.cache_resource, numpy and the app's modules imported by
the first visitor; the server had imported none of them at the start).

The server's cap of concurrent trainings is raised to ``--max-trainings`` (default: the number
of visitors, so that all ten runs are in memory at once, the worst case); with a lower cap the
runs beyond it wait in the server's line (status "waiting") and start by themselves, in turns
(a server that refuses instead is asked again every 2 s); a visitor's watch time starts with its
run's first step.

Only 127.0.0.1 is ever contacted. Prints a Markdown table and writes it to
benchmarks/results/memory_visitors.md, the raw samples to memory_visitors.json (``--out``).
"""
import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                     # run as a script: benchmarks/ is sys.path[0]
    sys.path.insert(0, str(ROOT))

from benchmarks.load_protocol import rounded, write_results  # noqa: E402
from tests.helpers.browser import served_app  # noqa: E402
from tests.helpers.procs import process_tree, rss_bytes  # noqa: E402
from tests.helpers.protocol import LOAD_TIMEOUT_S, StreamlitSession  # noqa: E402
from tests.helpers.visitors import TrainingVisitor  # noqa: E402

DISCONNECT_GRACE_S = 15.0     # app/runs/job.py DISCONNECT_GRACE (read from it when it exists)
SETTLE_MARGIN_S = 10.0        # more than the sum of the cleanup times, before reading memory
STEADY_S = 5.0                # a phase's memory: the median of its last seconds of samples
SAMPLE_S = 0.5


def disconnect_grace():
    try:
        from app.runs.job import DISCONNECT_GRACE
        return float(DISCONNECT_GRACE)
    except Exception:
        return DISCONNECT_GRACE_S


def cleanup_seconds(keep):
    """Seconds after the last visitor left by which the server should have let go of everything:
    the keep time (visitors and Streamlit's closed sessions), the visitor sweeper's period (a
    quarter of it, 1-60 s), the runs' disconnect grace, a margin."""
    return keep + min(60.0, max(1.0, keep / 4)) + disconnect_grace() + SETTLE_MARGIN_S


# -- a look inside the server (--diagnose) ---------------------------------------------------------
# Installed as sitecustomize.py on the server's PYTHONPATH (a temporary folder, never the repo):
# a thread of the Streamlit process answers each request file with what it holds after a full
# collection: instances of the classes that hold a visitor's work, the arrays reachable from
# them, the threads, glibc's malloc figures (before and after malloc_trim on "trim"), and the
# top tracemalloc lines when the server runs with PYTHONTRACEMALLOC.
PROBE = r'''
import os, sys, threading, time

def _report(what):
    import ctypes, gc, json, collections, tracemalloc
    found = gc.collect()
    objects = gc.get_objects()
    names = collections.Counter(type(o).__name__ for o in objects)
    watched = ("AppSession", "SessionState", "SafeSessionState", "ScriptRunner", "Trainer",
               "MLP", "SavedModel", "Snapshots", "Splits", "RawDataset", "Thread", "Process")
    arrays, seen = 0, set()
    try:
        import numpy
        def look(r, depth=0):
            nonlocal arrays
            if isinstance(r, numpy.ndarray):
                if id(r) not in seen:
                    seen.add(id(r))
                    if r.base is None:
                        arrays += r.nbytes
            # a dict or tuple of arrays only is not tracked by gc: look inside it
            elif depth < 3 and isinstance(r, (dict, list, tuple)) and not gc.is_tracked(r):
                for inner in gc.get_referents(r):
                    look(inner, depth + 1)
        for o in objects:
            for r in gc.get_referents(o):
                look(r)
    except Exception:
        pass
    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    out = {"collected": found, "objects": len(objects),
           "watched": {n: names.get(n, 0) for n in watched},
           "top_types": names.most_common(12), "array_bytes": arrays, "array_count": len(seen),
           "threads": sorted(t.name for t in threading.enumerate()), "rss": rss()}
    del objects
    try:
        class MallInfo2(ctypes.Structure):
            _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks",
                        "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        out["malloc"] = {f: getattr(info, f) for f, _ in MallInfo2._fields_}
        if "trim" in what:
            libc.malloc_trim(0)
            out["rss_after_trim"] = rss()
    except Exception as e:
        out["malloc"] = repr(e)
    if "who" in what:
        out["held_by"] = _held_by(("AppSession", "Trainer"))
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot()
        out["traced"] = tracemalloc.get_traced_memory()
        out["top_lines"] = [(str(s.traceback), s.size, s.count)
                            for s in snap.statistics("lineno")[:15]]
    return out

def _describe(o):
    import types
    for name, module in list(sys.modules.items()):
        if getattr(module, "__dict__", None) is o:
            return f"globals of {name}"
    if isinstance(o, dict):
        return "dict with keys " + ", ".join(map(str, list(o)[:6]))
    if isinstance(o, types.FrameType):
        return f"frame {o.f_code.co_name} ({o.f_code.co_filename}:{o.f_lineno})"
    if isinstance(o, types.FunctionType):
        return f"function {o.__qualname__}"
    return type(o).__module__ + "." + type(o).__qualname__

def _held_by(names, depth=8, most=6):
    """For up to ``most`` live instances of each class in ``names``: one referrer chain up to a
    module's globals (or as far as ``depth`` steps go)."""
    import gc, types
    out = {}
    here = sys._getframe()
    for name in names:
        targets = [o for o in gc.get_objects() if type(o).__name__ == name][:most]
        out[name] = []
        for target in targets:
            chain, obj, seen = [], target, {id(target), id(targets), id(here)}
            for _ in range(depth):
                found = gc.get_referrers(obj)
                seen.add(id(found))
                referrers = [r for r in found if id(r) not in seen and r is not targets
                             and not (isinstance(r, types.FrameType)
                                      and r.f_code.co_name == "_held_by")]
                seen.add(id(referrers))
                del found
                if not referrers:
                    break
                globals_of = [r for r in referrers if _describe(r).startswith("globals of")]
                obj = (globals_of or referrers)[0]
                seen.add(id(obj))
                chain.append(_describe(obj))
                if globals_of:
                    break
            out[name].append(chain)
        del targets
    return out

def _serve(folder):
    time.sleep(1)
    if "streamlit" not in (sys.argv[0] if sys.argv else ""):
        return                                   # a training worker or another program
    request, response = os.path.join(folder, "request"), os.path.join(folder, "response.json")
    while True:
        time.sleep(0.2)
        try:
            what = open(request).read().strip()
        except OSError:
            continue
        os.remove(request)
        import json
        try:
            out = _report(what)
        except Exception as e:
            out = {"error": repr(e)}
        with open(response + ".tmp", "w") as f:
            json.dump(out, f)
        os.replace(response + ".tmp", response)

if os.environ.get("NN_MEMORY_PROBE_DIR"):
    threading.Thread(target=_serve, args=(os.environ["NN_MEMORY_PROBE_DIR"],), daemon=True,
                     name="memory-probe").start()
'''


def install_probe(folder, tracemalloc_frames=0):
    """Write the probe and set this process's environment so the server started next loads it."""
    folder = Path(folder)
    (folder / "sitecustomize.py").write_text(PROBE)
    os.environ["NN_MEMORY_PROBE_DIR"] = str(folder)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    if tracemalloc_frames:
        os.environ["PYTHONTRACEMALLOC"] = str(tracemalloc_frames)


async def ask_probe(what="look", timeout=120.0):
    """The server's answer to a probe request (None without --diagnose or on timeout)."""
    folder = os.environ.get("NN_MEMORY_PROBE_DIR")
    if not folder:
        return None
    response = Path(folder) / "response.json"
    response.unlink(missing_ok=True)
    (Path(folder) / "request").write_text(what)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if response.exists():
            return json.loads(response.read_text())
        await asyncio.sleep(0.2)
    return None


# -- one visitor -----------------------------------------------------------------------------------
async def visit(index, url, args, outcomes):
    """Arrive, open Home, go to /train, Start, watch ``args.watch`` s, leave (no Stop)."""
    await asyncio.sleep(0.5 * index)
    training = TrainingVisitor(url, f"visitor {index + 1}", epochs=args.epochs)
    outcome = {"visitor": index + 1, "steps": 0, "total": None, "finished": False,
               "busy_waits": 0, "errors": []}
    finished = []

    def on_run(run):
        training._on_run(run)
        if any(alert.body.startswith("Finished") for alert in run.find_all("alert")):
            finished.append(True)
    try:
        started = time.monotonic()
        await training.start(via="", busy_wait=args.busy_wait)
        training.session.on_run = on_run
        outcome["waited_s"] = time.monotonic() - started
        await asyncio.sleep(args.watch)                   # watching the run learn
    except Exception as e:
        outcome["errors"].append(f"{type(e).__name__}: {str(e)[:200]}")
    finally:
        outcome.update(steps=training.step or 0, total=training.total,
                       finished=bool(finished) or (training.total is not None
                                                   and training.step == training.total),
                       busy_waits=training.busy_waits, runs=training.runs,
                       waited_in_line=training.waited_in_line)
        outcome["errors"] += training.errors
        await training.session.close()                    # the tab is closed
        outcome["left"] = time.monotonic()
        outcomes.append(outcome)


async def look_around(url):
    """The warm-up visitor: opens Home, then Train and Draw (no training), and leaves. The first
    visitor makes the server import numpy and the app and load the dataset and shipped model
    into its shared caches, once for all visitors."""
    session = StreamlitSession(url, "", "warm-up visitor")
    try:
        await session.open()
        await session.load()
        for page in ("train", "draw"):
            session.page_name, session.page_script_hash = page, session.pages.get(page, "")
            run = await asyncio.wait_for(await session.rerun(), LOAD_TIMEOUT_S)
            if run.errors:
                raise RuntimeError(f"/{page} showed {run.errors[0]}")
    finally:
        await session.close()


# -- the measurement -------------------------------------------------------------------------------
async def sample_memory(pid, samples, every=SAMPLE_S):
    """Append (time.monotonic(), RSS of the server and its children, of the server alone,
    processes) to ``samples`` every ``every`` seconds until cancelled."""
    while True:
        samples.append((time.monotonic(), rss_bytes(pid), rss_bytes(pid, children=False),
                        len(process_tree(pid))))
        await asyncio.sleep(every)


def steady(samples, until, seconds=STEADY_S):
    """(median RSS with children, median RSS of the server alone, most processes) of
    ``samples`` in the ``seconds`` before ``until`` (bytes)."""
    window = [s for s in samples if until - seconds <= s[0] <= until and s[1] is not None]
    if not window:
        return None, None, None
    return (statistics.median(s[1] for s in window), statistics.median(s[2] for s in window),
            max(s[3] for s in window))


def peak(samples, since, until):
    """The sample of ``samples`` within [since, until] with the most RSS (with children)."""
    window = [s for s in samples if since <= s[0] <= until and s[1] is not None]
    if not window:
        return None, None, None
    top = max(window, key=lambda s: s[1])
    return top[1], top[2], max(s[3] for s in window)


async def measure(url, pid, args):
    """Sample the server's RSS throughout; returns (phases, waves, samples, probes): phases are
    (moment, RSS with children, RSS of the server alone, processes) in bytes, probes {moment:
    what the server said it holds} (--diagnose)."""
    samples = []
    sampler = asyncio.create_task(sample_memory(pid, samples))
    phases, waves, probes = [], [], {}

    async def phase(label, rss_and_processes, probe=True, what="look"):
        phases.append((label, *rss_and_processes))
        if probe:
            answer = await ask_probe(what)
            if answer is not None:
                probes[label] = answer
    try:
        await asyncio.sleep(STEADY_S + 1)
        await phase("server started, no visitor yet", steady(samples, time.monotonic()))
        settle = cleanup_seconds(args.keep)
        await look_around(url)
        await asyncio.sleep(settle)
        await phase("one visitor looked around (Home, Train, Draw) and left: the shared caches",
                    steady(samples, time.monotonic()))
        for wave in range(1, args.waves + 1):
            arrived = time.monotonic()
            outcomes = []
            await asyncio.gather(*(visit(i, url, args, outcomes) for i in range(args.visitors)))
            left = time.monotonic()
            await asyncio.sleep(2)
            await phase(f"wave {wave}: peak while they trained", peak(samples, arrived, left),
                        probe=False)
            await phase(f"wave {wave}: just after all {args.visitors} left",
                        steady(samples, time.monotonic(), 1.5))
            await asyncio.sleep(max(0.0, settle - (time.monotonic() - left)))
            await phase(f"wave {wave}: {settle:.0f} s after they left (cleanup time)",
                        steady(samples, time.monotonic()),
                        what="who" if wave == args.waves else "look")
            outcomes.sort(key=lambda o: o["visitor"])
            waves.append({"wave": wave, "seconds": left - arrived, "visitors": outcomes})
            print(f"wave {wave}: {sum(o['finished'] for o in outcomes)} of {len(outcomes)} runs "
                  f"finished, {sum(len(o['errors']) for o in outcomes)} errors; RSS now "
                  f"{mb(phases[-1][1])} MB", file=sys.stderr)
        # Streamlit keeps referring to the last session it sent a message to and the last script
        # run's globals until the next ones: one more visitor, who does not train, takes that place
        await look_around(url)
        await asyncio.sleep(settle)
        await phase("then one more visitor looked around and left (the last session Streamlit "
                    "still refers to is now theirs)", steady(samples, time.monotonic()),
                    what="trim who")
    finally:
        sampler.cancel()
    return phases, waves, samples, probes


def probe_table(probes):
    """What the server held at each moment (--diagnose), as a Markdown table."""
    watched = ["AppSession", "SessionState", "Trainer", "MLP", "SavedModel", "Snapshots"]
    lines = ["| moment | " + " | ".join(watched) + " | numpy arrays MB (count) | threads | "
             "malloc in use / free MB | RSS after malloc_trim MB |",
             "|---|" + "---|" * (len(watched) + 4)]
    for label, p in probes.items():
        if "error" in p:
            lines.append(f"| {label} | {p['error']} |")
            continue
        malloc = p.get("malloc")
        heap = (f"{(malloc['uordblks'] + malloc['hblkhd']) / 2**20:,.0f} / "
                f"{malloc['fordblks'] / 2**20:,.0f}" if isinstance(malloc, dict) else "n/a")
        lines.append(
            f"| {label} | " + " | ".join(str(p["watched"].get(n, 0)) for n in watched) +
            f" | {p['array_bytes'] / 2**20:,.0f} ({p['array_count']}) | {len(p['threads'])} | "
            f"{heap} | {mb(p.get('rss_after_trim'))} |")
    return "\n".join(lines)


# -- the report ------------------------------------------------------------------------------------
def mb(value):
    return "n/a" if value is None else f"{value / 2**20:,.0f}"


def report(args, phases, waves, load):
    start, warm = phases[0][1], phases[1][1] if len(phases) > 1 else None
    lines = ["| moment | server RSS MB, with child processes | vs the start | vs after the "
             "first visitor | the server process alone MB | processes |",
             "|---|---|---|---|---|---|"]

    def delta(rss, base):
        return "" if rss is None or base is None or rss == base else \
            f"{(rss - base) / 2**20:+,.0f} MB"
    for index, (label, rss, own, processes) in enumerate(phases):
        lines.append(f"| {label} | {mb(rss)} | {delta(rss, start)} | "
                     f"{delta(rss, warm) if index > 1 else ''} | {mb(own)} | "
                     f"{processes or 'n/a'} |")
    runs = ["| wave | visitors | runs started | finished before they left | steps trained "
            "(median) | waited in line | errors |", "|---|---|---|---|---|---|---|"]
    for w in waves:
        v = w["visitors"]
        runs.append(f"| {w['wave']} | {len(v)} | {sum(1 for o in v if o['steps'])} | "
                    f"{sum(o['finished'] for o in v)} | "
                    f"{statistics.median(o['steps'] for o in v):,.0f} of {v[0]['total'] or 0:,} | "
                    f"{sum(o['waited_in_line'] or o['busy_waits'] > 0 for o in v)} | "
                    f"{sum(len(o['errors']) for o in v)} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    cap = ("all at once" if args.max_trainings >= args.visitors
           else f"at most {args.max_trainings} at once, the others in turns")
    text = (f"## Server memory: {args.visitors} visitors train and leave, {args.waves} wave"
            f"{'s' if args.waves > 1 else ''}\n\n"
            f"`python benchmarks/memory_visitors.py --visitors {args.visitors} --waves "
            f"{args.waves} --epochs {args.epochs} --watch {args.watch:g} --keep {args.keep:g} "
            f"--max-trainings {args.max_trainings}` on {time.strftime('%Y-%m-%d')} ({machine}; "
            f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end).\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(runs) + "\n\n"
            f"First one visitor looks around without training (the server imports numpy and the "
            f"app and fills its shared caches: dataset, shipped model), then each wave's visitors "
            f"arrive. Each visitor opens Home, goes to /train, trains the recommended preset "
            f"(784-256-128-10 Adam) for {args.epochs} epoch{'s' if args.epochs > 1 else ''} "
            f"({cap}; NN_MAX_TRAININGS={args.max_trainings}), watches {args.watch:g} s and closes "
            f"the tab without Stop. The server keeps a visitor's work {args.keep:g} s for a reload "
            f"(NN_VISITOR_KEEP_SECONDS; 1800 by default) and Streamlit a closed session as long "
            f"(server.disconnectedSessionTTL; 120 by default). RSS: the sum of VmRSS over the "
            f"server and its child processes, sampled every {SAMPLE_S:g} s; a moment's figure is "
            f"the median of its last {STEADY_S:g} s (the peak: the highest sample).\n")
    errors = [f"wave {w['wave']}, visitor {o['visitor']}: {e}"
              for w in waves for o in w["visitors"] for e in o["errors"]]
    if errors:
        text += "\nErrors (first 10):\n\n" + "\n".join(f"- {e}" for e in errors[:10]) + "\n"
    return text, not errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=10, help="visitors per wave")
    parser.add_argument("--waves", type=int, default=2, help="times the visitors come and go")
    parser.add_argument("--epochs", type=int, default=2, help="epochs each visitor trains")
    parser.add_argument("--watch", type=float, default=20.0,
                        help="seconds each visitor watches its run before leaving")
    parser.add_argument("--keep", type=float, default=20.0,
                        help="seconds the server keeps a visitor who left (and their session)")
    parser.add_argument("--max-trainings", type=int,
                        help="the server's cap of trainings at once (default: --visitors)")
    parser.add_argument("--busy-wait", type=float, default=600.0,
                        help="seconds a visitor keeps pressing Start while the server is busy")
    parser.add_argument("--diagnose", action="store_true",
                        help="ask the server what it holds at each moment (gc, arrays, malloc)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="with --diagnose: run the server under tracemalloc (slow)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "memory_visitors.md"),
                        help="Markdown file for the results, JSON next to it ('' for none)")
    args = parser.parse_args(argv)
    args.max_trainings = args.max_trainings or args.visitors
    if not 1 <= args.visitors <= 30 or not 1 <= args.waves <= 5:
        parser.error("use 1-30 visitors and 1-5 waves")
    if not 1 <= args.epochs <= 20 or not 0 <= args.watch <= 600 or not 1 <= args.keep <= 600:
        parser.error("use 1-20 epochs, a watch of 0-600 s and a keep time of 1-600 s")
    if not 1 <= args.max_trainings <= 30:
        parser.error("use a cap of 1-30 trainings")
    # the server started below inherits these (tests/helpers/browser.py adds NN_OFFLINE=1)
    os.environ.update({
        "NN_VISITOR_KEEP_SECONDS": str(int(args.keep)),
        "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(int(args.keep)),
        "NN_MAX_TRAININGS": str(args.max_trainings),
    })
    if args.diagnose:
        import tempfile
        install_probe(tempfile.mkdtemp(prefix="memory-probe-"), args.tracemalloc)
    load_before = os.getloadavg()[0]
    with served_app(None, "memory-visitors-") as (url, server):
        phases, waves, samples, probes = asyncio.run(measure(url, server.pid, args))
        processes_left = len(process_tree(server.pid)) - 1
    text, ok = report(args, phases, waves, (load_before, os.getloadavg()[0]))
    if probes:
        text += ("\nWhat the server process held (`--diagnose`: after a full gc.collect(); "
                 "arrays reachable from Python objects; glibc's mallinfo2):\n\n"
                 + probe_table(probes) + "\n")
        held = next((p["held_by"] for p in reversed(list(probes.values())[:-1])
                     if p.get("held_by")), {})
        chains = [f"- a {name}: " + " <- ".join(chain) for name, found in held.items()
                  for chain in found]
        if chains:
            text += ("\nWho still held them after the last wave's cleanup time (one referrer "
                     "chain each, up to a module's globals):\n\n" + "\n".join(chains) + "\n")
    if processes_left:
        text += f"\n{processes_left} child process(es) of the server were still alive at the end.\n"
    print(text)
    if args.out:
        write_results(args.out, text, {
            "phases": rounded(phases), "waves": rounded(waves), "probes": probes,
            "samples": rounded([(t - samples[0][0], *rest) for t, *rest in samples])})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
