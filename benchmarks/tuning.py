"""What early stopping saves: the same local tuning study (8 trials of the dense stage on 6,000 digits, scored on all 10,000 test digits,
random search with one seed, so both sweeps run the same trials) with and without the median rule.

    python benchmarks/tuning.py [--trials 8] [--parallel 2]

Prints the epochs run, the wall time and the best accuracy of each sweep, and the ratio of the first
two. Target (issue 13): with stopping, at most 70% of the epochs, and the best accuracy within 0.3
percentage points. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import DATA_DIR_HELP, DEFAULT_DATA_DIR
from google.cloud import aiplatform_v1

from trainer.submit import sweep

EPOCHS = 6
STUDY = {
    "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
    "parameters": [{"parameterId": "learning-rate", "doubleValueSpec": {"minValue": 1e-6, "maxValue": 0.3},
                    "scaleType": "UNIT_LOG_SCALE"}],
    "algorithm": "RANDOM_SEARCH",
}  # fmt: skip
TRIAL = {"workerPoolSpecs": [{"containerSpec": {"imageUri": "local", "args": ["--stage=dense", f"--epochs={EPOCHS}"]}}]}
FLAGS = ["--train-size", "6000", "--test-size", "10000", "--no-plots"]


def run(stopping: bool, trials: int, parallel: int, folder: Path, data_dir: str) -> tuple[int, float, float]:
    """One sweep: (epochs run, seconds, best accuracy)."""
    spec = {**STUDY, **({"medianAutomatedStoppingSpec": {}} if stopping else {})}
    study = aiplatform_v1.StudySpec.from_json(json.dumps(spec))
    trial_spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(TRIAL))
    local = sweep.Sweep(study, trial_spec, [*FLAGS, f"--data-dir={data_dir}"], folder)
    started = time.perf_counter()
    assert local.run(trials, parallel) == 0
    seconds = time.perf_counter() - started
    epochs = sum(t.user_attrs.get("epochs", 0) for t in local.optuna.get_trials(deepcopy=False))
    return epochs, seconds, local.optuna.best_value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=DATA_DIR_HELP)
    args = p.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        for stopping in (False, True):
            rows[stopping] = run(stopping, args.trials, args.parallel, Path(scratch) / str(stopping), args.data_dir)
    (e0, s0, b0), (e1, s1, b1) = rows[False], rows[True]
    print(f"\n| sweep ({args.trials} trials, {args.parallel} at a time) | epochs run | wall time | best accuracy |")
    print("|---|---|---|---|")
    print(f"| without early stopping | {e0} | {s0:.0f} s | {b0:.2%} |")
    print(
        f"| with median stopping | {e1} ({e1 / e0:.0%}) | {s1:.0f} s ({s1 / s0:.0%}) | {b1:.2%} ({(b1 - b0) * 100:+.2f} pp) |"
    )
    met = e1 <= 0.7 * e0 and b1 >= b0 - 0.003
    print(f"target: at most 70% of the epochs and the best within 0.3 pp: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
