"""Teach it with the largest loadable model and 500 drawings (issue 26, item 2): the server's
memory while 1, then 2 visitors teach at once, and a third visitor's place in line.

    python -m benchmarks.teach_memory [--steps 200] [--model 784-3000-4096-10]

Before teaching ran in a worker process, one teach took the server from 374 to 936 MB and two at
once to 1,680 MB (kept afterwards), and a third visitor's click showed nothing. Now each teaching
is a job of app.runs.job: its worker holds the work and is counted by the line (NN_MAX_TRAININGS,
set to 2 here) and the per-run memory cap. Prints, per case, the server process's resident memory
before, at its peak and after (VmRSS, sampled every 20 ms), each worker's peak, and the
waiting visitor's status, place and the text the page shows. Uses NN_DATA_DIR when it is set
(the full MNIST), else the bundled sample.
"""
import argparse
import gc
import os
import threading
import time

import numpy as np

MB = 2**20


def rss(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Peak:
    """Samples this process's and the given jobs' workers' RSS until stopped."""

    def __init__(self, jobs):
        self.jobs, self.server, self.workers = jobs, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.server = max(self.server, rss())
            for i, job in enumerate(self.jobs):
                pid = job.worker_pid
                if pid:
                    try:
                        self.workers[i] = max(self.workers.get(i, 0), rss(pid))
                    except OSError:
                        pass
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join()


def settled():
    from core.memory import trim_heap
    gc.collect()
    trim_heap()
    return rss()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--model", default="784-3000-4096-10")
    parser.add_argument("--drawings", type=int, default=500)
    parser.add_argument("--raise-cap", type=int, default=1280,
                        help="NN_MAX_RUN_MB to measure with when the model is refused at the cap")
    args = parser.parse_args()
    os.environ.setdefault("NN_MAX_TRAININGS", "2")
    os.environ.setdefault("NN_OFFLINE", "1")

    from app.data import load_raw, load_splits
    from app.runs.teacher import Teacher
    from benchmarks.hostile import model_file
    from core import modelio
    from core.errors import ConfigError
    from core.finetune import TeachConfig
    from core.handwriting import Drawings

    hidden = tuple(int(size) for size in args.model.split("-")[1:-1])
    saved = modelio.load_model(model_file(hidden=hidden), shown_as="the model")
    splits = load_splits("mnist", 5000, saved.scaling, 0)
    rng = np.random.default_rng(0)
    n = args.drawings
    drawings = Drawings(rng.integers(0, 256, (n, 784), dtype=np.uint8),
                        rng.integers(0, 10, n).astype(np.uint8), np.zeros((n, 56, 56), np.uint8))
    config = TeachConfig(steps=args.steps)
    print(f"model {args.model} ({sum(a.nbytes for a in saved.model.params.values()) / MB:.0f} MB "
          f"of weights), {n} drawings, {args.steps} steps, data: {load_raw('mnist').describe()}")
    probe = Teacher()
    try:
        probe.start(saved, "probe", splits, drawings, config, 0.1, visitor="visitor:probe")
    except ConfigError as e:                  # over the per-run cap: refused before it starts
        print(f"  NN_MAX_RUN_MB={os.environ.get('NN_MAX_RUN_MB', '1024')}: refused: {e}")
        os.environ["NN_MAX_RUN_MB"] = str(args.raise_cap)
        print(f"  measured with NN_MAX_RUN_MB={args.raise_cap}")
    else:                                     # within the cap (the bundled sample): measure so
        probe.reset()
    del probe
    for count in (1, 2, 3):
        teachers = [Teacher() for _ in range(count)]
        before = settled()
        peak = Peak(teachers)
        for i, teacher in enumerate(teachers):
            teacher.start(saved, "the largest model", splits, drawings, config, 0.1,
                          visitor=f"visitor:bench-{i}")
        if count == 3:
            deadline = time.monotonic() + 60
            while teachers[2].snapshot().status != "waiting" and time.monotonic() < deadline:
                time.sleep(0.05)
            third = teachers[2].snapshot()
            print(f"  third visitor: {third.status}, place {third.place}: {third.waiting_text}")
        while any(teacher.snapshot().active for teacher in teachers):   # polls: a page watching
            time.sleep(0.5)
        for teacher in teachers:
            teacher.join(60)
        peak.stop()
        ends = [(s.status, s.message) for s in (teacher.snapshot() for teacher in teachers)]
        for teacher in teachers:              # the results are let go, as a visitor who leaves
            teacher.reset()
        del teachers
        after = settled()
        print(f"{count} teaching at once (2 places): server {before / MB:,.0f} MB before, peak "
              f"{peak.server / MB:,.0f} MB, {after / MB:,.0f} MB after; workers' peaks "
              f"{', '.join(f'{w / MB:,.0f} MB' for w in peak.workers.values())}; ended "
              f"{', '.join(status + (': ' + message if message else '') for status, message in ends)}")


if __name__ == "__main__":
    main()
