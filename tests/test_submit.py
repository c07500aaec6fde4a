"""Submission: the real aiplatform SDK against a local fake of the Vertex AI REST API, dry runs and bad settings
(local jobs and local tuning are in test_local_jobs.py, packaging in test_packaging.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import CLOUD, GOOD_STUDY, REPO, read_metrics, sample_trials
from google.cloud import aiplatform_v1

from trainer import config
from trainer.submit import cli, source
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
    study = yaml.safe_load(GOOD_STUDY)["studySpec"]
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


def test_hptuning_yaml_parses_and_each_parameter_is_a_trainer_flag():
    job = studies.load_config(REPO / "hptuning.yaml")
    study, trial_spec = job.study_spec, job.trial_job_spec
    assert {f"--{p.parameter_id}" for p in study.parameters} <= config.trainer_flags()
    assert {p.parameter_id for p in study.parameters} >= {"learning-rate", "lr-decay", "dropout", "batch-size"}
    for trial in sample_trials(study, 5):
        config.from_flags(
            [*trial_spec.worker_pool_specs[0].container_spec.args, *(f"--{k}={v}" for k, v in trial.items())]
        )


def _bad_yaml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "study.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # "\udcff" writes the byte 0xff
    return ["--config", str(path)]


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
