"""Local jobs and local tuning, as Vertex AI would run them: `local` (the job's worker pools as processes here) and
`tune --local` (the study's trials, with their timeouts), a replica that fails ending the job, and container names
that keep two jobs apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import yaml
from conftest import GOOD_STUDY, SAMPLE_DIR, read_metrics

from trainer.submit import cli, container, local
from trainer.submit import study as studies

pytestmark = pytest.mark.usefixtures("clean_settings")


TINY_TRIAL = ["--smoke", "--train-size", "256", "--test-size", "200", "--no-plots"]  # each trial in seconds


def test_tune_local_runs_the_shipped_study_and_prints_the_table(tmp_path, capsys):
    """One trial of hptuning.yaml as shipped; tests/test_sweep.py runs several, in parallel, with the median rule."""
    assert cli.main(["tune", "--local", "--max-trials", "1", "--output-dir", str(tmp_path), *TINY_TRIAL]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and "=" in line]
    assert [r[0] for r in rows] == ["1"]
    for number, value, *_ in rows:
        assert float(value) == pytest.approx(
            studies.reports(studies.chief_metric_file(tmp_path / number), "accuracy")[-1][1], abs=1e-4
        )
    assert "best: trial " in out.splitlines()[-1]


@pytest.mark.parametrize("given", ["flag", "file"])
def test_tune_local_stops_a_trial_past_its_timeout_as_vertex_does_and_counts_it_failed(
    given, tmp_path, capsys, pause, monkeypatch
):
    """The trial holds at start-up (before TensorFlow loads), so only its timeout can end it: --timeout, else the
    file's trialJobSpec.scheduling.timeout. Was: tune --local ignored both and let a trial run for ever."""
    study = yaml.safe_load(GOOD_STUDY)
    study["trialJobSpec"]["scheduling"] = {"timeout": "1s" if given == "file" else "86400s"}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    held = pause("start")
    for name, value in held.env().items():
        monkeypatch.setenv(name, value)
    argv = ["tune", "--local", "--config", str(tmp_path / "study.yaml"), "--max-trials", "1",
            "--output-dir", str(tmp_path / "sweep"), *(["--timeout", "1s"] if given == "flag" else []), *TINY_TRIAL]  # fmt: skip
    codes: list[int] = []
    sweep = threading.Thread(target=lambda: codes.append(cli.main(argv)))
    sweep.start()
    sweep.join(timeout=300)  # generous: the timeout is 1 s
    if sweep.is_alive():
        held.go()  # let the trial finish, then fail
        sweep.join()
    assert codes == [1]
    captured = capsys.readouterr()
    assert "trial 1: ran past its timeout of 1s; stopped" in captured.out
    (row,) = [line.split() for line in captured.out.splitlines() if line.strip().startswith("1 ")]
    assert row[1:4] == ["-", "0", "failed"], row
    assert captured.err.startswith("error: no trial finished")


def test_local_runs_the_job_the_way_vertex_would(tmp_path, capsys):
    assert cli.main(["local", "--output-dir", str(tmp_path), "--stage", "softmax", "--smoke"]) == 0
    assert (tmp_path / "model" / "saved_model.pb").is_file() and list(
        (tmp_path / "logs").rglob("events.out.tfevents.*")
    )
    metrics = read_metrics(tmp_path)
    entries = (tmp_path / "hypertune" / "workerpool0-0.metrics").read_text().splitlines()
    assert float(json.loads(entries[-1])["accuracy"]) == pytest.approx(metrics["test_accuracy"])


def test_a_replica_that_fails_ends_the_local_job_and_stops_the_others(tmp_path, capsys):
    """As a permanent error ends a Vertex AI job: the chief refuses its flags (exit 2) and the worker, which would
    train for a long time and wait for its chief, is stopped; the job's status is the chief's, and its last line
    says which replica failed (the worker's own last line is about its SIGTERM). It waited for ever."""
    pools = [(1, ["--epochs", "0"]), (1, ["--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--epochs", "100000"])]
    started, result = [], {}

    def run() -> None:
        result["status"] = local.run_worker_pools(
            pools, tmp_path, "local-test", log=subprocess.DEVNULL, on_start=lambda _, p: started.append(p)
        )

    thread = threading.Thread(target=run)
    thread.start()
    try:
        thread.join(timeout=300)
        assert not thread.is_alive(), "the job still runs 300 s after its chief failed"
        assert result["status"] == 2 and [p.returncode for p in started][0] == 2
        assert all(p.returncode is not None for p in started)
        assert capsys.readouterr().err.splitlines()[-1] == (
            "error: local job local-test: the chief (workerpool0-0) exited with status 2 (its error is above); the job "
            "ended there, as on Vertex AI, and worker-1 was stopped"
        )
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
        thread.join()


def test_two_local_jobs_of_the_same_second_name_their_containers_apart(tmp_path, monkeypatch):
    """Container names are the host's: the launcher's pid is in each, beside the job id, which has one-second
    resolution (two jobs in one second: the second's chief could not start, and its worker waited for it)."""
    names = []
    monkeypatch.setattr(
        container, "replica_command", lambda image, name, *_: names.append(name) or [sys.executable, "-c", ""]
    )
    monkeypatch.setattr(container, "remove", lambda names: None)
    assert local.run_worker_pools([(1, []), (1, [])], tmp_path, "local-20261207-005752", image="img") == 0
    assert names == [
        f"local-20261207-005752-{os.getpid()}-workerpool0-0",
        f"local-20261207-005752-{os.getpid()}-workerpool1-0",
    ]
