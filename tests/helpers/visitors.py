"""Visitors of the real app for load rounds: drawing sessions on /draw and training sessions on
/train, as protocol clients (tests/helpers/protocol.py), and a round of both with its figures.

    results = await run_round(url, sessions, args, values, server_pid)
    target_met(results)            # p95 < 1 s, no errors, every training near one alone

Used by benchmarks/load_protocol.py (which adds the baseline round and the report),
benchmarks/memory_visitors.py and tests/test_load_protocol.py.
"""
import asyncio
import math
import os
import re
import time

from tests.helpers.browser import STROKES
from tests.helpers.procs import cpu_seconds, process_tree, rss_bytes
from tests.helpers.protocol import (GUESS_TIMEOUT_S, LOAD_TIMEOUT_S, RESYNC_TIMEOUT_S,
                                    StreamlitSession, widget_state)

TRAINING_EPOCHS = 200         # long enough to outlast any round
SERVER_TIME = re.compile(r"Server time for this update[^:]*: ([\d.]+) ms")
# The Train page's progress bar: "Step 1,234 of 8,600 · epoch 2.87 · 12.3 s · about ..."
STEP = re.compile(r"Step ([\d,]+) of ([\d,]+)(?: · epoch [\d.]+ · ([\d,.]+) s)?")
BUSY = ("already running", "already training", "busy")  # the Train page's "no free slot" warnings
WAITING = "Waiting for a free place"  # the Train page's words for a run in line
BUSY_RETRY_S = 2.0            # a visitor told the server is busy presses Start again after this
ALONE_WITHIN = 0.20           # the target: each training within 20% of one alone


def percentile(values, q):
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# -- the visitors ----------------------------------------------------------------------------------
def draw_widgets(run):
    """(canvas widget id, Clear button id, the Draw fragment's id) from a run of /draw."""
    canvas = run.find("bidi_component")
    clear = run.find("button", "Clear")
    if canvas is None or clear is None:
        raise RuntimeError("the Draw page showed no canvas or no Clear button")
    return canvas.id, clear.id, run.fragment_of("bidi_component")


async def timed(future, results, what):
    """The Run that answers ``future``. A run later than GUESS_TIMEOUT_S is an error, and is still
    waited for (RESYNC_TIMEOUT_S more) so that the session stays in step with its page; raises
    when even that fails."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), GUESS_TIMEOUT_S)
    except asyncio.TimeoutError:
        results["errors"].append(f"{what}: no finished run within {GUESS_TIMEOUT_S:.0f} s")
        results["timeouts"] += 1
    return await asyncio.wait_for(future, RESYNC_TIMEOUT_S)


async def draw_session(index, url, clock, args, values, results, ready):
    """One visitor on /draw: loads the page, sets ``ready``, waits for ``clock["go"]``, then
    strokes and clears until ``clock["stop_at"]`` or ``args.max_strokes``."""
    name = f"session {index}"
    session = StreamlitSession(url, "draw", name)
    errors = results["errors"]
    try:
        await session.open()
        canvas_id, clear_id, fragment_id = draw_widgets(await session.load())
    except Exception as e:
        errors.append(f"{name}: /draw did not load ({type(e).__name__}: {e})")
        ready.set()
        await session.close()
        return
    ready.set()
    await clock["go"].wait()
    digits = list(STROKES)
    strokes = 0
    try:
        while time.monotonic() < clock["stop_at"] and strokes < args.max_strokes:
            await asyncio.sleep(args.think)           # the visitor draws the stroke
            digit = digits[(index + strokes) % len(digits)]
            canvas = widget_state(canvas_id, json_value=values[digit])
            strokes += 1
            sent = time.perf_counter()
            run = await timed(await session.rerun([canvas], fragment_id), results,
                              f"{name}, stroke {strokes}")
            results["round_trips"].append(run.finished - sent)
            if run.prediction_at is not None:
                results["to_prediction"].append(run.prediction_at - sent)
            server_ms = [float(m.group(1)) for t in run.texts() if (m := SERVER_TIME.search(t))]
            results["server_ms"].extend(server_ms[-1:])
            shown = run.metric("Prediction")
            if run.errors:
                errors.append(f"{name}: stroke {strokes}: {run.errors[0]}")
            elif shown != digit:
                errors.append(f"{name}: drew {digit}, the page showed {shown!r}")
            # Clear: the browser sends the canvas's value again plus the button's trigger
            sent = time.perf_counter()
            clear = widget_state(clear_id, trigger_value=True)
            run = await timed(await session.rerun([canvas, clear], fragment_id), results,
                              f"{name}, Clear")
            results["clear_trips"].append(run.finished - sent)
            if run.errors or run.metric("Prediction") is not None:
                errors.append(f"{name}: Clear left {run.errors[:1] or run.metric('Prediction')!r}")
            new_canvas_id, clear_id, fragment_id = draw_widgets(run)
            if new_canvas_id == canvas_id:
                errors.append(f"{name}: Clear did not give a new canvas")
            canvas_id = new_canvas_id
    except Exception as e:
        errors.append(f"{name}: {type(e).__name__}: {str(e)[:160]}")
    finally:
        results["strokes"] += strokes
        results["messages"] += session.messages
        await session.close()


class TrainingVisitor:
    """A protocol session on /train that starts the recommended preset (Epochs ``epochs``) and
    keeps watching it like a browser (auto reruns of the live fragment).

    ``samples``: (client time.monotonic(), step, the run's own seconds or None) for every new
    step the progress bar showed; ``throughput(since, until)`` turns them into steps/s."""

    def __init__(self, url, name="training", epochs=TRAINING_EPOCHS):
        self.session = StreamlitSession(url, "train", name)
        self.name, self.epochs = name, epochs
        self.step = None                 # last "Step N of M" shown
        self.total = None
        self.samples = []
        self.stop_id = None
        self.errors = []
        self.runs = 0
        self.busy_waits = 0              # Starts the server refused for want of a free slot
        self.waited_in_line = False      # the page said the run waits for a free place

    def _on_run(self, run):
        self.runs += 1
        for text in run.texts():
            if m := STEP.search(text):
                step, total = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
                seconds = float(m.group(3).replace(",", "")) if m.group(3) else None
                if step != self.step:
                    self.samples.append((time.monotonic(), step, seconds))
                self.step, self.total = step, total
        self.errors.extend(f"{self.name}: {e}" for e in run.errors)
        if any(WAITING in alert.body for alert in run.find_all("alert")):
            self.waited_in_line = True
        stop = run.find("button", "Stop")
        if stop is not None:
            self.stop_id = stop.id

    async def start(self, via=None, busy_wait=LOAD_TIMEOUT_S):
        """Open /train (``via``: open that page first, e.g. "" for Home, and go to /train as the
        sidebar link does), set Epochs, press Start and wait for the run's first step. A full
        server either puts the run in line (the page says "Waiting for a free place") or, in
        older versions, refuses the Start as busy, which is then pressed again every
        BUSY_RETRY_S seconds; either way the first step may take up to ``busy_wait`` seconds
        (at least LOAD_TIMEOUT_S) before this raises RuntimeError."""
        s = self.session
        s.on_run = self._on_run
        await s.open()
        if via is None:
            run = await s.load()
        else:
            s.page_name = via
            await s.load()
            s.page_name, s.page_script_hash = "train", s.pages.get("train", "")
            run = await asyncio.wait_for(await s.rerun(), LOAD_TIMEOUT_S)
        epochs, start = run.find("number_input", "Epochs"), run.find("button", "Start")
        if epochs is None or start is None:
            raise RuntimeError("/train showed no Epochs field or no Start button")
        s.widgets[epochs.id] = widget_state(epochs.id, int_value=self.epochs)
        await asyncio.wait_for(await s.rerun(), LOAD_TIMEOUT_S)
        give_up = time.monotonic() + max(busy_wait, LOAD_TIMEOUT_S)
        while True:
            run = await asyncio.wait_for(
                await s.rerun([widget_state(start.id, trigger_value=True)]), LOAD_TIMEOUT_S)
            if run.errors:
                raise RuntimeError(f"Start: {run.errors[0]}")
            busy = busy_warning(run)
            if busy is None:
                break
            if time.monotonic() > give_up:
                raise RuntimeError(f"Start refused for {busy_wait:.0f} s: {busy[:160]}")
            self.busy_waits += 1
            await asyncio.sleep(BUSY_RETRY_S)
        while self.step is None:                       # its first record: the run is going
            if time.monotonic() > give_up or s.closed:
                raise RuntimeError(f"the training showed no step within "
                                   f"{max(busy_wait, LOAD_TIMEOUT_S):.0f} s"
                                   + (" (it waited in line)" if self.waited_in_line else ""))
            await asyncio.sleep(0.1)

    def throughput(self, since=-math.inf, until=math.inf):
        """Steps per second between the first and the last progress shown within [since, until]
        (time.monotonic()): by the run's own clock when the page showed it, else by the
        client's. None with fewer than two such progress readings."""
        inside = [s for s in self.samples if since <= s[0] <= until]
        return steps_per_second(inside)

    async def stop(self):
        s = self.session
        try:
            if self.stop_id and not s.closed:
                stop = widget_state(self.stop_id, trigger_value=True)
                await asyncio.wait_for(await s.rerun([stop]), LOAD_TIMEOUT_S)
        finally:
            await s.close()


def busy_warning(run):
    """The text of the Train page's "no free slot" warning in ``run``, or None."""
    for alert in run.find_all("alert"):
        if alert.format == alert.WARNING and any(word in alert.body for word in BUSY):
            return alert.body
    return None


def steps_per_second(samples):
    """Steps/s from (client time, step, run seconds | None) samples, first to last: by the run's
    seconds when both ends have them, else by the client's clock; None if it cannot tell."""
    if len(samples) < 2:
        return None
    (t0, step0, run0), (t1, step1, run1) = samples[0], samples[-1]
    seconds = run1 - run0 if run0 is not None and run1 is not None else t1 - t0
    return (step1 - step0) / seconds if seconds > 0 else None


async def sample_rss(pid, samples, every=1.0):
    """Append (time.monotonic(), server RSS with children, processes) to ``samples`` every
    ``every`` seconds until cancelled."""
    while True:
        samples.append((time.monotonic(), rss_bytes(pid), len(process_tree(pid))))
        await asyncio.sleep(every)


# -- a round ---------------------------------------------------------------------------------------
async def start_trainings(url, count, results, epochs=TRAINING_EPOCHS):
    """``count`` TrainingVisitors, started at once; those that fail are reported and closed."""
    trainings = [TrainingVisitor(url, f"training {i + 1}", epochs) for i in range(count)]
    outcomes = await asyncio.gather(*(t.start() for t in trainings), return_exceptions=True)
    started = []
    for training, outcome in zip(trainings, outcomes):
        if isinstance(outcome, BaseException):
            results["errors"].append(f"{training.name} did not start: "
                                     f"{type(outcome).__name__}: {outcome}")
            await training.session.close()
        else:
            started.append(training)
    return started


async def run_round(url, sessions, args, values, server_pid=None, trainers=None):
    """``sessions`` drawing visitors (0: none) for ``args.duration`` s, with ``trainers`` training
    visitors (default ``args.trainers``, 1 if it has none; 0 with ``args.no_training``). Returns
    the round's raw figures."""
    if trainers is None:
        trainers = 0 if args.no_training else getattr(args, "trainers", 1)
    results = {"sessions": sessions, "trainers": trainers, "round_trips": [], "to_prediction": [],
               "clear_trips": [], "server_ms": [], "errors": [], "timeouts": 0, "strokes": 0,
               "messages": 0, "trainings": []}
    trainings = await start_trainings(url, trainers, results) if trainers else []
    readies = [asyncio.Event() for _ in range(sessions)]
    clock = {"go": asyncio.Event(), "stop_at": math.inf}

    async def arrive(i):
        await asyncio.sleep(0.1 * i)                   # visitors arrive over a few seconds
        await draw_session(i, url, clock, args, values, results, readies[i])

    tasks = [asyncio.create_task(arrive(i)) for i in range(sessions)]
    memory, sampler = [], None
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 180)
        steps0 = [t.step or 0 for t in trainings]
        cpu0, load0 = time.process_time(), os.getloadavg()[0]
        server0 = cpu_seconds(server_pid, children=True) if server_pid else None
        own0 = cpu_seconds(server_pid) if server_pid else None
        if server_pid:
            sampler = asyncio.create_task(sample_rss(server_pid, memory))
        started = time.monotonic()
        clock["stop_at"] = started + args.duration
        clock["go"].set()
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await asyncio.sleep(args.duration)
        ended = time.monotonic()
        wall = ended - started
        server1 = cpu_seconds(server_pid, children=True) if server_pid else None
        own1 = cpu_seconds(server_pid) if server_pid else None
        results.update(
            wall=wall, client_cpu=(time.process_time() - cpu0) / wall,
            server_cpu=None if server0 is None or server1 is None else (server1 - server0) / wall,
            server_process_cpu=None if own0 is None or own1 is None else (own1 - own0) / wall,
            load_before=load0, load_after=os.getloadavg()[0])
        known = [m[1] for m in memory if m[1] is not None]
        if known:
            results.update(server_rss_peak=max(known), server_rss_end=known[-1],
                           server_processes=max(m[2] for m in memory))
        for training, step0 in zip(trainings, steps0):
            results["trainings"].append({
                "name": training.name, "steps": (training.step or 0) - step0,
                "steps_per_second": training.throughput(started, ended),
                "total": training.total, "runs": training.runs,
                "busy_waits": training.busy_waits, "waited_in_line": training.waited_in_line})
            results["errors"].extend(training.errors)
            if training.session.closed:
                results["errors"].append(f"{training.name}: {training.session.closed}")
        if trainings:                    # the figures of the one-training table, as before
            results["training_steps"] = sum(t["steps"] for t in results["trainings"])
            results["training_total"] = trainings[0].total
            results["training_runs"] = sum(t.runs for t in trainings)
    finally:
        if sampler is not None:
            sampler.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(t.stop() for t in trainings), return_exceptions=True)
    return results


# -- a round's figures -----------------------------------------------------------------------------
def training_cells(r):
    """Each training's steps/s and its ratio to the baseline: "312 (0.91x), 290 (0.85x)"."""
    if not r["trainings"]:
        return "no training"
    cells = []
    for t in r["trainings"]:
        speed, ratio = t.get("steps_per_second"), t.get("ratio_to_alone")
        text = "n/a" if speed is None else f"{speed:,.0f}"
        if r.get("baseline"):
            text += " (alone)"
        elif ratio is not None:
            text += f" ({ratio:.2f}x)"
        cells.append(text)
    return ", ".join(cells)


def target_met(r):
    """The issue's target for a round with drawing visitors: p95 < 1 s, no errors, and every
    training within ALONE_WITHIN of one alone (when a baseline was measured); None: no target."""
    trips = r["round_trips"]
    if not r["sessions"]:
        return None
    ratios = [t.get("ratio_to_alone") for t in r["trainings"]]
    alone_ok = all(ratio is not None and ratio >= 1 - ALONE_WITHIN for ratio in ratios) \
        if r.get("alone_steps_per_second") else True
    return bool(trips) and percentile(trips, 0.95) < 1 and not r["errors"] \
        and len(r["trainings"]) == r["trainers"] and alone_ok
