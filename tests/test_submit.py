"""Submission: the real aiplatform SDK against a local fake of the Vertex AI REST API, local jobs and
local tuning, dry runs and bad settings (packaging is in test_packaging.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from conftest import CLOUD, REPO, SAMPLE_DIR, read_metrics, sample_trials
from google.cloud import aiplatform_v1

from trainer import config
from trainer.submit import cli, container, local, source
from trainer.submit import study as studies

pytestmark = pytest.mark.usefixtures("clean_settings")


TAG = source.tag("Dockerfile")  # this source's training image


@pytest.fixture(scope="session")
def trained(vertex):
    """One CustomJob submitted through the SDK and run to the end by the fake; once per worker, as the fake is
    (worksteal can bring a worker back to a module, and a module fixture would then be set up again)."""
    argv = ["train", *CLOUD, "--api-endpoint", vertex.endpoint, "--display-name", "smoke-job",
            "--machine-type", "n1-standard-4", "--accelerator-count", "0", "--stage", "dense", "--smoke"]  # fmt: skip
    code = cli.main(argv)
    return code, argv


def _dry_run(capsys, *argv: str) -> dict:
    assert cli.main([*argv, "--dry-run"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_runs_a_custom_job_to_success_with_the_model_in_the_base_output_dir(vertex, trained):
    code, _ = trained
    assert code == 0
    out = vertex.local_path("gs://demo-bucket/smoke-job")
    assert (out / "model" / "saved_model.pb").is_file()
    (job,) = [j for j in vertex.jobs.values() if j.display_name == "smoke-job"]
    image = job.job_spec.worker_pool_specs[0].container_spec.image_uri
    assert "/mnist-trainer@sha256:" in image  # this source's image, by its digest
    assert read_metrics(out)["stage"] == "dense" and read_metrics(out)["image"] == image  # the image the job ran
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED


def test_dry_run_prints_exactly_the_request_that_train_sends(vertex, trained, capsys):
    _, argv = trained
    printed = _dry_run(capsys, *argv)
    (sent,) = [body for collection, body in vertex.requests if body["displayName"] == "smoke-job"]
    # the same request, but for the image: the dry run names it by its source tag, offline; train sends its digest
    pinned = sent["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]
    tagged = printed["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]
    assert tagged == f"{pinned.split('@')[0]}:{TAG}"
    assert json.loads(json.dumps(sent).replace(pinned, tagged)) == printed


def test_dry_run_train_has_the_machine_accelerator_replicas_and_args(capsys):
    printed = _dry_run(
        capsys,
        "train",
        *CLOUD,
        "--replicas",
        "3",
        "--machine-type",
        "g2-standard-24",
        "--accelerator-type",
        "NVIDIA_L4",
        "--accelerator-count",
        "2",
        "--spot",
        "--service-account",
        "sa@demo-project.iam.gserviceaccount.com",
        "--tensorboard",
        "projects/demo-project/locations/us-central1/tensorboards/1",
        "--stage=conv",
        "--epochs=3",
    )
    job = aiplatform_v1.CustomJob.from_json(json.dumps(printed), ignore_unknown_fields=False)
    chief, workers = job.job_spec.worker_pool_specs
    assert (chief.replica_count, workers.replica_count) == (1, 2)
    for pool in (chief, workers):
        assert pool.machine_spec.machine_type == "g2-standard-24"
        assert pool.machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_L4
        assert pool.machine_spec.accelerator_count == 2
        # a dry run is offline: the image by its source tag, which a real submission resolves to its digest
        assert pool.container_spec.image_uri == f"us-central1-docker.pkg.dev/demo-project/mnist/mnist-trainer:{TAG}"
        assert list(pool.container_spec.args) == ["--stage=conv", "--epochs=3", "--accelerator=gpu"]
    assert dict(job.labels) == {"tool": "mnist-vertex-trainer", "source": TAG.removeprefix("src-")}
    assert job.job_spec.scheduling.strategy == aiplatform_v1.Scheduling.Strategy.SPOT
    assert job.job_spec.scheduling.restart_job_on_worker_restart
    assert job.job_spec.base_output_directory.output_uri_prefix.startswith("gs://demo-bucket/mnist-")
    assert job.job_spec.service_account == "sa@demo-project.iam.gserviceaccount.com"
    assert job.job_spec.tensorboard.endswith("/tensorboards/1")


def test_dry_run_tune_carries_the_study_from_hptuning_yaml(capsys):
    printed = _dry_run(
        capsys, "tune", *CLOUD, "--max-trials", "12", "--parallel-trials", "3", "--image-uri", "example/img:1"
    )
    job = aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(printed), ignore_unknown_fields=False)
    study = yaml.safe_load((REPO / "hptuning.yaml").read_text())["studySpec"]
    assert [p.parameter_id for p in job.study_spec.parameters] == [p["parameterId"] for p in study["parameters"]]
    assert job.study_spec.metrics[0].metric_id == "accuracy"
    assert job.study_spec.metrics[0].goal == aiplatform_v1.StudySpec.MetricSpec.GoalType.MAXIMIZE
    assert (job.max_trial_count, job.parallel_trial_count) == (12, 3)
    (pool,) = job.trial_job_spec.worker_pool_specs
    assert pool.machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4
    assert pool.container_spec.image_uri == "example/img:1"
    assert list(pool.container_spec.args) == [
        "--stage=batchnorm", "--epochs=10", "--hypertune-metric=accuracy", "--accelerator=gpu"
    ]  # fmt: skip


TINY_TRIAL = ["--smoke", "--train-size", "256", "--test-size", "200", "--no-plots"]  # each trial in seconds


def test_hptuning_yaml_parses_and_each_parameter_is_a_trainer_flag():
    job = studies.load_config(REPO / "hptuning.yaml")
    study, trial_spec = job.study_spec, job.trial_job_spec
    assert {f"--{p.parameter_id}" for p in study.parameters} <= config.trainer_flags()
    assert {p.parameter_id for p in study.parameters} >= {"learning-rate", "lr-decay", "dropout", "batch-size"}
    for trial in sample_trials(study, 5):
        config.from_flags(
            [*trial_spec.worker_pool_specs[0].container_spec.args, *(f"--{k}={v}" for k, v in trial.items())]
        )


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
    study = yaml.safe_load((REPO / "hptuning.yaml").read_text())
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


def _bad_yaml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "study.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # "\udcff" writes the byte 0xff
    return ["--config", str(path)]


GOOD_STUDY = (REPO / "hptuning.yaml").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "--region", "us-central1", "--bucket", "gs://demo-bucket"],
            "no project: pass --project, set PROJECT_ID or run: gcloud config set project PROJECT",
        ),
        (
            ["train", "--project", "demo-project", "--region", "mars-north1", "--bucket", "gs://demo-bucket"],
            "--region mars-north1: not a Vertex AI region",
        ),
        (
            ["train", "--project", "demo-project", "--bucket", "my-bucket"],
            "--bucket my-bucket: must be in Cloud Storage, gs://BUCKET",
        ),
        (["train", "--project", "demo-project"], "no bucket: pass --bucket gs://BUCKET or set BUCKET"),
        (["train", *CLOUD, "--accelerator-type", "NVIDIA_TESLA_X1"], "--accelerator-type NVIDIA_TESLA_X1: unknown"),
        (
            ["train", *CLOUD, "--machine-type", "huge-machine"],
            "--machine-type huge-machine: not a machine type Vertex AI trains on",
        ),
        (
            ["train", *CLOUD, "--tensorboard", "projects/p/locations/us-central1/tensorboards/1"],
            "--tensorboard needs --service-account",
        ),
        (
            [
                "train",
                *CLOUD,
                "--service-account",
                "sa@demo-project.iam.gserviceaccount.com",
                "--tensorboard",
                "projects/demo-project/locations/europe-west4/tensorboards/1",
            ],
            "--tensorboard projects/demo-project/locations/europe-west4/tensorboards/1: an instance in europe-west4, and "
            "the job runs in us-central1; Vertex AI TensorBoard takes jobs of its own region: pass one in us-central1, "
            "or --region europe-west4",
        ),
        (["train", *CLOUD, "--epochs", "0"], "trainer flags --epochs 0: argument --epochs: must be > 0, got 0"),
        (["tune", *CLOUD, "yaml:studySpec: [unclosed"], "not valid YAML"),
        (["tune", *CLOUD, "yaml:\udcffstudySpec: {}"], "study.yaml: not UTF-8 text (invalid start byte at byte 0)"),
        (
            ["tune", *CLOUD, "yaml:" + GOOD_STUDY.replace("goal: MAXIMIZE", "goal: MAXIMIZE\n    colour: blue")],
            'no field named "colour"',
        ),
        (
            ["tune", *CLOUD, "yaml:" + GOOD_STUDY.replace("parameterId: dropout", "parameterId: momentum")],
            "parameter 'momentum' is not a trainer flag (--momentum)",
        ),
    ],
    ids=[
        "no-project",
        "unknown-region",
        "bucket-not-gs",
        "no-bucket",
        "unknown-accelerator",
        "unknown-machine",
        "tensorboard-without-service-account",
        "tensorboard-in-another-region",
        "bad-trainer-flag",
        "yaml-does-not-parse",
        "yaml-not-utf-8",
        "yaml-unknown-field",
        "yaml-names-no-flag",
    ],
)
def test_bad_settings_give_one_line_and_send_nothing(vertex, tmp_path, capsys, argv, message):
    argv = [a for a in argv if not a.startswith("yaml:")] + sum(
        (_bad_yaml(tmp_path, a[5:]) for a in argv if a.startswith("yaml:")), []
    )
    before = len(vertex.requests)
    assert cli.main([*argv, "--api-endpoint", vertex.endpoint]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert len(vertex.requests) == before
