"""Protocol-level load test: N visitors drawing on /draw while others train, without a browser.

    python benchmarks/load_protocol.py                  # the issue's round: 30 drawing, 2 training
    python benchmarks/load_protocol.py --sessions 1 5 10 20 --trainers 1 --duration 30
    python benchmarks/load_protocol.py --sessions 0 10 --trainers 2   # 0: the trainings alone
    python benchmarks/load_protocol.py --url http://127.0.0.1:8501   # an app already running here

Every visitor is an asyncio websocket client (the ``websockets`` package) speaking Streamlit's own
protocol on ``/_stcore/stream``: protobuf ``BackMsg`` up, ``ForwardMsg`` down, as the browser does
(subprotocol "streamlit"; a first ``rerun_script`` with ``page_name="draw"``), so 30 sessions cost
the client a few percent of one core and the figures are the server's. Each drawing session loops:

    wait ``--think`` seconds (the time a visitor takes to draw a stroke), then send the rerun the
    canvas sends after a stroke (the Draw fragment's id; the canvas widget's value: Fabric.js JSON
    of one stroke and the 280x280 PNG the canvas would send, rendered by
    tests/helpers/strokes.render); wait for the run's ``script_finished``; check that the
    run carried the "Prediction" metric with the digit drawn (1, 0 or 7: tests/helpers/browser.STROKES);
    then send Clear (the same canvas value plus the Clear button's trigger, as the browser does),
    check that the guess is gone and take the new canvas's widget id from the run.

Round trip = the stroke's BackMsg sent to its run's ``script_finished`` received (the Prediction
delta arrives a few ms before). Errors: no ``script_finished`` within 10 s, a wrong or missing
guess, an exception or ``st.error`` element in a run, a closed websocket, a training that does
not start (the server's "busy" warning included).

Meanwhile ``--trainers`` more protocol sessions train (default 2; 0 or --no-training: none), each
a visitor of its own: it opens /train, sets Epochs to 200 on the recommended preset and presses
Start (the button's trigger), then behaves like a browser watching the run: it answers the page's
``auto_rerun`` messages (the live fragment, every 0.5 s) with auto reruns and reads the progress
bar ("Step N of M · epoch E · T s"). A training's throughput is its steps per second over the
round by the run's own clock (steps and seconds of the first and last progress the page showed
within the round), so the page's polling delay does not count. It presses Stop after each round,
so every round starts fresh runs. Before the rounds, a baseline round trains ONE run alone (no
drawing visitors, same duration; --no-baseline to skip it), and every training is reported as a
ratio of that throughput (the issue's target: each within 20%, i.e. >= 0.80).

Without --url it starts the app itself (tests/helpers/browser.py's served_app: ``streamlit run`` on
127.0.0.1, a free port, NN_OFFLINE=1) with NN_MAX_TRAININGS raised to ``--trainers`` if needed
(each training is its own visitor, so the per-visitor cap of 1 holds), and stops it at the end;
then it also reports the server's CPU time and resident memory, its child processes included (a
training worker process counts as the server's). Only 127.0.0.1 is ever contacted (no proxy
either). Bounded: ``--duration`` seconds of drawing per round, at most 600 s over all rounds (the
baseline included), and at most ``--max-strokes`` strokes per session and round.
Prints a Markdown table and writes it to benchmarks/results/load_protocol.md and the raw figures
to load_protocol.json (``--out``).

The clients and the round live in tests/helpers (protocol.py: one session; visitors.py: the
drawing and training visitors, a round and its target), shared with tests/test_load_protocol.py.
"""
import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                     # run as a script: benchmarks/ is sys.path[0]
    sys.path.insert(0, str(ROOT))

from tests.helpers.browser import STROKES, served_app  # noqa: E402
from tests.helpers.protocol import canvas_value  # noqa: E402
from tests.helpers.visitors import (ALONE_WITHIN, percentile, run_round, target_met,  # noqa: E402
                                    training_cells)


async def run_all(url, args, server_pid=None):
    """The baseline round (one training alone) unless there is no training or ``args.baseline``
    is off, then a round per number of ``args.sessions``; each training's ratio to the baseline
    is added to its figures."""
    values = {digit: canvas_value(points) for digit, points in STROKES.items()}
    trainers = 0 if args.no_training else args.trainers
    plan = [(0, 1, True)] if trainers and args.baseline else []
    plan += [(n, trainers, False) for n in args.sessions]
    rounds, alone = [], None
    for sessions, count, baseline in plan:
        r = await run_round(url, sessions, args, values, server_pid, trainers=count)
        r["baseline"] = baseline
        if baseline:
            alone = r["trainings"][0]["steps_per_second"] if r["trainings"] else None
        for training in r["trainings"]:
            speed = training["steps_per_second"]
            training["ratio_to_alone"] = speed / alone if speed and alone else None
        r["alone_steps_per_second"] = alone
        speeds = ", ".join(f"{t['steps_per_second'] or 0:.0f}" for t in r["trainings"])
        print(f"{'baseline: ' if baseline else ''}{sessions} sessions, {count} trainings: "
              f"{len(r['round_trips'])} guesses, p95 {ms(r['round_trips'], 0.95)} ms, "
              f"steps/s [{speeds}], {len(r['errors'])} errors", file=sys.stderr)
        rounds.append(r)
        await asyncio.sleep(3)                         # the stopped trainings wind down
    return rounds


# -- the report ------------------------------------------------------------------------------------
def ms(values, q):
    return f"{percentile(values, q) * 1000:.0f}" if values else "n/a"


COLUMNS = ["drawing sessions", "trainings", "guesses", "p50 ms", "p95 ms", "max ms", "errors",
           "steps/s per training (x one alone)", "Clear p50 / p95 ms", "script time p50 / p95 ms",
           "server CPU: all / its own process", "server RSS peak MB", "client CPU",
           "load avg before / after", "target met"]



def round_cells(r):
    trips, server, clears = r["round_trips"], r["server_ms"], r["clear_trips"]
    met = target_met(r)
    rss = r.get("server_rss_peak")
    return [
        str(r["sessions"]) + (" (baseline)" if r.get("baseline") else ""),
        str(r.get("trainers", len(r["trainings"]))), f"{len(trips):,}",
        ms(trips, 0.5), ms(trips, 0.95), ms(trips, 1.0), str(len(r["errors"])),
        training_cells(r),
        f"{ms(clears, 0.5)} / {ms(clears, 0.95)}",
        f"{percentile(server, 0.5):.0f} / {percentile(server, 0.95):.0f}" if server else "n/a",
        "n/a" if r.get("server_cpu") is None else
        f"{r['server_cpu']:.0%} / {r.get('server_process_cpu') or 0:.0%}",
        "n/a" if rss is None else f"{rss / 2**20:,.0f}",
        f"{r['client_cpu']:.0%}",
        f"{r['load_before']:.1f} / {r['load_after']:.1f}",
        "n/a" if met is None else ("yes" if met else "NO"),
    ]


def command_line(args):
    sessions = " ".join(str(n) for n in args.sessions)
    text = (f"python benchmarks/load_protocol.py --sessions {sessions} --duration "
            f"{args.duration:.0f} --think {args.think:g}")
    if args.no_training:
        return text + " --no-training"
    return text + f" --trainers {args.trainers}" + ("" if args.baseline else " --no-baseline")


def report(args, rounds):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(round_cells(r)) + " |" for r in rounds]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    trainers = 0 if args.no_training else args.trainers
    text = (f"## Protocol load test: drawing sessions"
            f"{f' + {trainers} training' + ('s' if trainers > 1 else '') if trainers else ''}\n\n"
            f"`{command_line(args)}` on {time.strftime('%Y-%m-%d')} ({machine}; the server, the "
            f"trainings and the client share these cores).\n\n" + "\n".join(lines) + "\n\n"
            f"Round trip: the stroke's rerun sent to its run's script_finished (the Prediction "
            f"delta arrives just before it); {args.duration:.0f} s of drawing per round, "
            f"{args.think:g} s of drawing time before each stroke. Steps/s: each training's "
            f"steps over the round by the run's own clock (its progress bar), and in brackets its "
            f"ratio to the baseline round's one training alone. Target: p95 < 1000 ms, no errors "
            f"and every training >= {1 - ALONE_WITHIN:.2f}x of one alone. Script time: the Draw "
            f"fragment's own figure (\"Server time for this update\"). CPU: share of one core "
            f"over the round; the server's CPU (all) and RSS include its child processes (the "
            f"training workers), its own process's CPU does not.\n")
    errors = [e for r in rounds for e in r["errors"]]
    if errors:
        text += "\nErrors (first 10):\n\n" + "\n".join(f"- {e}" for e in errors[:10]) + "\n"
    return text, all(target_met(r) for r in rounds if r["sessions"])


def rounded(value):
    """Floats to 4 decimals (0.1 ms) all through, for a JSON file of readable size."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def source_state():
    """The commit measured and the files that differed from it (the app is run from disk)."""
    import subprocess

    def git(*cmd):
        try:                   # rstrip: a porcelain line starts with a meaningful space
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted": [line[3:] for line in git("status", "--porcelain").splitlines()]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[30],
                        help="drawing sessions, one round per number (0: the trainings alone)")
    parser.add_argument("--trainers", type=int, default=2,
                        help="training visitors during every round (0: none)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the first round of one training alone (no ratios then)")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of drawing per round (600 at most over all rounds)")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds a visitor takes to draw each stroke")
    parser.add_argument("--max-strokes", type=int, default=1000, help="per session and round")
    parser.add_argument("--no-training", action="store_true",
                        help="no training meanwhile (as --trainers 0)")
    parser.add_argument("--url", help="an app already running on http://127.0.0.1:<port>")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_protocol.md"),
                        help="Markdown file for the results, JSON next to it ('' for none)")
    args = parser.parse_args(argv)
    if not all(0 <= n <= 100 for n in args.sessions) or len(args.sessions) > 10:
        parser.error("use 0-100 sessions per round and at most 10 rounds")
    if not 0 <= args.trainers <= 10:
        parser.error("use 0-10 trainers")
    args.no_training = args.no_training or args.trainers == 0
    rounds = len(args.sessions) + (0 if args.no_training or not args.baseline else 1)
    if not 1 <= args.duration or rounds * args.duration > 600:
        parser.error("use at most 600 s of drawing in all (rounds, the baseline included, "
                     "x --duration)")
    if not 1 <= args.max_strokes <= 10_000:
        parser.error("use 1-10,000 strokes per session")
    if not 0 <= args.think <= 60:
        parser.error("use a think time of 0-60 s")
    if not args.url and not args.no_training:      # the server this starts allows N trainings
        cap = os.environ.get("NN_MAX_TRAININGS", "")
        if not cap.isdigit() or int(cap) < args.trainers:
            os.environ["NN_MAX_TRAININGS"] = str(max(2, args.trainers))
    with served_app(args.url, "load-protocol-") as (url, server):
        rounds = asyncio.run(run_all(url, args, server.pid if server else None))
    text, ok = report(args, rounds)
    print(text)
    if args.out:
        write_results(args.out, text, {"rounds": rounded(rounds)})
    return 0 if ok else 1


def write_results(out, text, figures):
    """The Markdown ``text`` to ``out`` and, beside it (.json), ``figures`` with the command,
    the date and the source's state."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": sys.argv, "date": time.strftime("%Y-%m-%d %H:%M"), **source_state(),
         **figures}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
