"""`./submit.sh tune --local`: Optuna runs the study here, N trials at a time, the median rule stops a trial
that cannot learn, and a sweep killed midway continues where it stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import optuna
import yaml
from conftest import MNIST_DIR, REPO

from trainer.submit import study as studies

EPOCHS = 10  # long enough that a pruned trial is seen stopping before its last epoch on a fast CPU too
STUDY = {
    "displayName": "sweep-test",
    "studySpec": {
        "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
        "parameters": [{"parameterId": "learning-rate", "discreteValueSpec": {"values": [1e-7, 0.003]}}],
        "algorithm": "RANDOM_SEARCH",
        "medianAutomatedStoppingSpec": {},
    },
    "trialJobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": 1,
                "containerSpec": {"imageUri": "local", "args": ["--stage=dense", f"--epochs={EPOCHS}"]},
            }
        ]
    },
}
FLAGS = ["--data-dir", str(MNIST_DIR), "--train-size", "3000", "--test-size", "500", "--no-plots"]


def _sweep(tmp_path, *extra: str) -> list[str]:
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    return [
        sys.executable,
        "-m",
        "trainer.submit",
        "tune",
        "--local",
        "--config",
        str(tmp_path / "study.yaml"),
        "--output-dir",
        str(tmp_path / "sweep"),
        *extra,
        *FLAGS,
    ]


def _rows(out: str) -> list[list[str]]:
    return [
        line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+(\S+)\s+\d+\s+(done|stopped|failed)\b", line)
    ]


def test_a_trial_that_cannot_learn_is_stopped_by_the_median_rule_and_a_killed_sweep_continues(tmp_path):
    # The sampler's draws for this seed: at least one trial that cannot learn and some that can.
    draws = [t["learning-rate"] for t in studies.sample_trials(studies.load_config(_write(tmp_path)).study_spec, 6)]
    assert "1e-07" in draws and set(draws) - {"1e-07"}
    first = subprocess.Popen(
        _sweep(tmp_path, "--max-trials", "6", "--parallel-trials", "2"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while _finished(tmp_path / "sweep" / "study.db") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)  # Ctrl-C in the middle of the sweep
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted: finished trials are kept in" in out

    rerun = subprocess.run(
        _sweep(tmp_path, "--max-trials", "6", "--parallel-trials", "2"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert re.search(r"continuing the study in .*study\.db: [2-6] trials already finished", rerun.stdout)
    rows = _rows(rerun.stdout)
    finished = [r for r in rows if r[3] in ("done", "stopped")]
    assert len(finished) == 6
    stopped = [r for r in rows if r[3] == "stopped"]
    assert any(r[4] == "learning-rate=1e-07" and int(r[2]) < EPOCHS for r in stopped), rows
    best = rerun.stdout.strip().splitlines()[-1]
    assert best.startswith("best: trial ") and "--learning-rate=0.003" in best


def _finished(db) -> int:
    """Trials the study has recorded as finished (done or stopped) so far."""
    if not db.exists():  # loading would create it, racing the sweep that is about to
        return 0
    try:
        study = optuna.load_study(study_name="local", storage=f"sqlite:///{db}")
    except Exception:  # the sweep has not created its study yet (the file may exist before the record does)
        return 0
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))


def _write(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    return path
