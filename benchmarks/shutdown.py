"""The CPU a command's process spends shutting down, with trainer/process.py's end() against a plain sys.exit.

    python benchmarks/shutdown.py --rounds 5

Each command runs as a new process, the way a user, a container or a test starts it, its main() ended either way:
the trainer (a one-epoch softmax run on 256 sample digits) and trainer.predict (on the sample's test digits), taken in
turn so that the machine's slow and fast spells fall on both. Each process reports its CPU when main() returns; the
rest of its CPU, measured from outside, is its shutdown. Prints the median user + system CPU seconds of the shutdown
and of the whole process, each way, and their ratios; exits 1 when end() does not at least halve the shutdown.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO  # first: puts the repository on sys.path

from trainer import data

TRAIN = ["--stage", "softmax", "--data-dir", str(data.SAMPLE_DIR), "--train-size", "256", "--test-size", "256",
         "--epochs", "1", "--no-plots"]  # fmt: skip
MOST_RATIO = 0.5
# main() run as `python -m MODULE` runs it, then its CPU so far on stderr's last line, then the process ended.
ENDED = (
    "import resource, sys; from trainer import process; from {module} import main; code = main(sys.argv[1:]); "
    "r = resource.getrusage(resource.RUSAGE_SELF); print(r.ru_utime + r.ru_stime, file=sys.stderr); {end}(code)"
)


def cpu_seconds(module: str, end: str, args: list[str]) -> tuple[float, float]:
    """Runs main() of `module` with args in a new process, ended by `end`; returns (the shutdown's CPU seconds, the
    whole process's), user + system."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = ENDED.format(module=module, end=end)
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return whole - float(result.stderr.strip().splitlines()[-1]), whole


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="runs of each command each way (default: 5)")
    rounds = p.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="shutdown-"))
    model = work / "model-run" / "model"
    commands = {
        "trainer.task": lambda i: [*TRAIN, "--job-dir", str(work / f"run-{i}")],
        "trainer.predict": lambda i: ["--model-dir", str(model), str(data.SAMPLE_DIR / "t10k-images-idx3-ubyte.gz")],
    }
    subprocess.run([sys.executable, "-m", "trainer.task", *TRAIN, "--job-dir", str(model.parent)], cwd=REPO,
                   check=True, capture_output=True)  # fmt: skip
    print(f"median CPU seconds of {rounds} runs each way; {os.cpu_count()} cores")
    print(
        f"{'command':<16} {'shutdown: sys.exit':>18} {'end()':>6} {'ratio':>6}   {'whole: sys.exit':>15} {'end()':>6} {'ratio':>6}"
    )
    worst = 0.0
    for module, args in commands.items():
        runs: dict[str, list[tuple[float, float]]] = {"sys.exit": [], "process.end": []}
        for i in range(rounds):
            for end in runs:
                runs[end].append(cpu_seconds(module, end, args(f"{end}-{i}")))
        (plain_down, plain_whole), (fast_down, fast_whole) = (
            (statistics.median(r[0] for r in done), statistics.median(r[1] for r in done)) for done in runs.values()
        )
        worst = max(worst, fast_down / plain_down)
        print(f"{module:<16} {plain_down:>18.2f} {fast_down:>6.2f} {fast_down / plain_down:>5.2f}x   "
              f"{plain_whole:>15.2f} {fast_whole:>6.2f} {fast_whole / plain_whole:>5.2f}x")  # fmt: skip
    print(f"target: end()'s shutdown at most {MOST_RATIO}x sys.exit's")
    return 0 if worst <= MOST_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
