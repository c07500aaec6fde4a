"""`./submit.sh tune --local`: Optuna runs the study here, N trials at a time, the median rule stops a trial
that cannot learn, and a sweep killed midway continues where it stopped.

Trials are held at points the test chooses (tests/holding.py), so no verdict depends on how fast they train."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import optuna
import pytest
import yaml
from conftest import REPO, SAMPLE_DIR, sample_trials

from trainer.submit import study as studies

pytestmark = pytest.mark.long

EPOCHS = 3
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
FLAGS = ["--data-dir", str(SAMPLE_DIR), "--train-size", "1000", "--test-size", "500", "--no-plots"]
CANNOT_LEARN = "--learning-rate=1e-07"


# A terminal's Ctrl-C finds Python's KeyboardInterrupt handler in place. A background job of a shell script
# (`pytest &`) starts with SIGINT ignored, inherited by every process below it, and Python then leaves it
# ignored: the sweep is started with the terminal's disposition restored, whoever runs the suite.
AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('trainer.submit', run_name='__main__', alter_sys=True)"
)


def _sweep(tmp_path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        AS_FROM_A_TERMINAL,
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


def test_a_trial_that_cannot_learn_is_stopped_by_the_median_rule_and_a_killed_sweep_continues(tmp_path, pause):
    # The sampler's first two draws for this seed, in each run of the sweep: a trial that can learn, then one that
    # cannot.
    draws = [t["learning-rate"] for t in sample_trials(studies.load_config(_write(tmp_path)).study_spec, 2)]
    assert draws == ["0.003", CANNOT_LEARN.split("=")[1]]
    # Ctrl-C while trial 2 holds at start-up: trial 1 has finished, the sweep cannot.
    held = pause("start;from_trial=2")
    first = subprocess.Popen(
        _sweep(tmp_path, "--max-trials", "3", "--parallel-trials", "1"),
        cwd=REPO,
        env={**os.environ, **held.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert [h.split("-")[0] for h in held.wait(1, running=lambda: first.poll() is None)] == ["trial2"]
    assert _finished(tmp_path / "sweep" / "study.db") == 1
    first.send_signal(signal.SIGINT)  # Ctrl-C in the middle of the sweep
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted: finished trials are kept in" in out

    # The rerun, two trials at a time: the one that cannot learn holds after its first epoch until the median
    # rule stops it (SIGTERM).
    rule = pause(f"epoch=1;arg={CANNOT_LEARN}", "rule")
    rerun = subprocess.run(
        _sweep(tmp_path, "--max-trials", "3", "--parallel-trials", "2"),
        cwd=REPO,
        env={**os.environ, **rule.env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "continuing the study in " in rerun.stdout and ": 1 trials already finished" in rerun.stdout
    rows = _rows(rerun.stdout)
    assert len([r for r in rows if r[3] in ("done", "stopped")]) == 3
    rerun_rows = [r for r in rows if int(r[0]) > 2]  # trial 2 failed with the Ctrl-C; 3 and 4 replace it
    assert [r[4] for r in rerun_rows] == ["learning-rate=0.003", CANNOT_LEARN.lstrip("-")], rows
    assert rerun_rows[1][2:4] == ["1", "stopped"], rows  # held after epoch 1 until the median rule stopped it
    for number, value, _, state, *_ in rows:  # a trial's value: the last accuracy its chief reported
        if state == "failed":
            continue
        reports = studies.reports(studies.chief_metric_file(tmp_path / "sweep" / number), "accuracy")
        assert float(value) == pytest.approx(reports[-1][1], abs=1e-4), rows
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


def test_the_local_median_rule_is_vertex_ais_best_so_far_against_completed_running_averages():
    """Vertex AI's MedianAutomatedStoppingSpec: stop when the best value so far is below the median of the
    completed trials' running averages up to the same step. Optuna's MedianPruner would stop trial c here."""
    from trainer.submit.sweep import VertexMedianPruner

    study = optuna.create_study(direction="maximize", pruner=VertexMedianPruner())
    distribution = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for curve in ([0.2, 0.9, 0.95], [0.1, 0.8, 0.9]):  # completed: running averages at step 2 are 0.55 and 0.45
        trial = study.ask(distribution)
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
        study.tell(trial, curve[-1])
    median_at_2 = 0.5
    cases = {"a": ([0.1, 0.45], True), "b": ([0.1, 0.5], False), "c": ([0.6, 0.52], False)}
    for name, (curve, stopped) in cases.items():
        trial = study.ask(distribution)
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
        assert trial.should_prune() is stopped, (name, median_at_2)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    lone = optuna.create_study(direction="maximize", pruner=VertexMedianPruner()).ask(distribution)
    lone.report(0.0, 1)
    assert lone.should_prune() is False  # no completed trial: no median to compare with
