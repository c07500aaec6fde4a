"""Nothing runaway: a time limit and labels on every job, Dynamic Workload Scheduler requested only where Vertex AI
offers it, and the way back to a job (status, list, cancel) and from a sweep to an endpoint (tune --deploy), each
through the real SDK against the fake Vertex AI API."""

from __future__ import annotations

import json
import re

import pytest
from conftest import CLOUD, SAMPLE_DIR, fake_cloud, launch
from google.cloud import aiplatform_v1

from trainer.submit import credentials, source
from trainer.submit import study as studies
from trainer.submit import vertex as jobs_api
from trainer.submit.settings import settings

pytestmark = [pytest.mark.usefixtures("clean_settings"), pytest.mark.long]
CPU = ["--machine-type", "n1-standard-4", "--accelerator-count", "0"]
TRAIN = ["--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--train-size", "512", "--test-size", "200", "--no-plots"]
TOOL = {"tool": "mnist-vertex-trainer"}
JOB = {**TOOL, "source": source.tag("Dockerfile").removeprefix("src-")}  # a job's labels: its source's too


def _drylaunch(capsys, *argv: str) -> aiplatform_v1.CustomJob:
    code, out, err = launch(capsys, "train", *CLOUD, "--dry-run", *argv)
    assert code == 0, err
    return aiplatform_v1.CustomJob.from_json(out, ignore_unknown_fields=False)


def test_every_job_gets_a_24_hour_limit_and_the_tools_label_unless_told_otherwise(capsys):
    job = _drylaunch(capsys)
    assert job.job_spec.scheduling.timeout.total_seconds() == 24 * 3600 and dict(job.labels) == JOB
    job = _drylaunch(capsys, "--timeout", "90m", "--labels", "team=vision,cost-center=r_d")
    assert job.job_spec.scheduling.timeout.total_seconds() == 90 * 60
    assert dict(job.labels) == {**JOB, "team": "vision", "cost-center": "r_d"}
    code, out, err = launch(capsys, "tune", *CLOUD, "--dry-run", "--timeout", "2h", "--labels", "team=vision")
    tuning = aiplatform_v1.HyperparameterTuningJob.from_json(out, ignore_unknown_fields=False)
    assert tuning.trial_job_spec.scheduling.timeout.total_seconds() == 7200  # each trial's limit
    assert dict(tuning.labels) == {**JOB, "team": "vision"}


def test_flex_start_requests_dynamic_workload_scheduler_with_its_wait(capsys):
    job = _drylaunch(capsys, "--machine-type", "a2-highgpu-1g", "--flex-start", "--max-wait", "2h")
    scheduling = job.job_spec.scheduling
    assert scheduling.strategy == aiplatform_v1.Scheduling.Strategy.FLEX_START
    assert scheduling.max_wait_duration.total_seconds() == 7200
    job = _drylaunch(capsys, "--machine-type", "g2-standard-8", "--flex-start", "--max-wait", "0")  # 0: indefinitely
    assert job.job_spec.scheduling.strategy == aiplatform_v1.Scheduling.Strategy.FLEX_START


LIMITS = {  # train's and doctor's (which checks the job train would send)
    "flex-and-spot": (["--machine-type", "g2-standard-8", "--flex-start", "--spot"], "--flex-start with --spot"),
    "flex-on-t4": (
        ["--flex-start"],
        "--flex-start on n1-standard-8 with NVIDIA_TESLA_T4: Dynamic Workload Scheduler takes",
    ),
    "flex-on-cpu": ([*CPU, "--flex-start"], "--flex-start on n1-standard-4 without a GPU"),
    "flex-on-tpu": (
        ["--machine-type", "ct5lp-hightpu-4t", "--flex-start"],
        "--flex-start on ct5lp-hightpu-4t without a GPU",
    ),
    "flex-over-7-days": (
        ["--machine-type", "g2-standard-8", "--flex-start", "--timeout", "8d"],
        "takes at most 7 days",
    ),
    "max-wait-alone": (["--max-wait", "2h"], "--max-wait: only with --flex-start"),
    "bad-timeout": (["--timeout", "soon"], "--timeout soon: not a duration"),
    "zero-timeout": (["--timeout", "0"], "--timeout 0: not a duration"),
}
LABELS = {
    "label-uppercase": (["--labels", "Team=vision"], "--labels Team=vision: a label is key=value"),
    "label-no-value": (["--labels", "team"], "--labels team: a label is key=value"),
    "label-too-long": (["--labels", "team=" + "x" * 64], "a label is key=value"),
}
JOB_SHAPES = {  # what doctor refuses as train does, besides the limits
    "gpu-flag-on-cpu": ([*CPU, "--accelerator", "gpu"], "--accelerator gpu"),
    "mirrored-on-2": (["--replicas", "2", "--distribute", "mirrored"], "--distribute mirrored"),
    "local-data": (["--data-dir", "/tmp/mnist"], "--data-dir /tmp/mnist: a folder on this machine"),
    "blank-name": (["--display-name", "   "], "--display-name: only spaces"),
}  # fmt: skip


@pytest.mark.parametrize("flags, message", [*LIMITS.values(), *LABELS.values()], ids=[*LIMITS, *LABELS])
def test_impossible_limits_and_labels_are_one_line_before_anything_is_sent(vertex, capsys, flags, message):
    sent = len(vertex.requests)
    code, out, err = launch(capsys, "train", *CLOUD, "--api-endpoint", vertex.endpoint, *flags)
    assert (code, err.count("\n")) == (2, 1) and message in err and err.startswith("error: "), err
    assert len(vertex.requests) == sent and "Traceback" not in out + err


@pytest.mark.parametrize("flags, message", [*LIMITS.values(), *JOB_SHAPES.values()], ids=[*LIMITS, *JOB_SHAPES])
def test_doctor_refuses_in_one_line_the_flags_train_would_refuse_before_checking_anything(
    vertex, capsys, flags, message
):
    """Was: doctor took --timeout, --max-wait and the trainer's flags and ignored them, then said "ready"."""
    sent = len(vertex.requests)
    code, out, err = launch(capsys, "doctor", *CLOUD, "--api-endpoint", vertex.endpoint, *flags)
    assert (code, out, err.count("\n")) == (2, "", 1) and message in err and err.startswith("error: "), err
    assert len(vertex.requests) == sent
    code, _, train_err = launch(capsys, "train", *CLOUD, "--api-endpoint", vertex.endpoint, *flags)
    assert (code, train_err) == (2, err)


def test_a_job_past_its_timeout_is_stopped_and_ends_failed(vertex, capsys, pause, monkeypatch):
    held = pause("start")  # the job holds at start-up: only the timeout can end it
    for name, value in held.env().items():
        monkeypatch.setenv(name, value)
    argv = ["train", *CLOUD, "--api-endpoint", vertex.endpoint, *CPU, "--display-name", "runaway", "--timeout", "3s"]
    code, out, err = launch(capsys, *argv, *TRAIN)
    assert code == 1
    assert "ended JOB_STATE_FAILED: The job ran past its timeout of 3s and was stopped." in err, err
    (job,) = [j for j in vertex.jobs.values() if j.display_name == "runaway"]
    assert job.state == aiplatform_v1.JobState.JOB_STATE_FAILED and job.error.code == 4  # DEADLINE_EXCEEDED


def _client(vertex) -> aiplatform_v1.JobServiceClient:
    s = settings({"project": "demo-project", "api_endpoint": vertex.endpoint}, {}, need_bucket=False)
    return jobs_api.client(s, credentials.load())


def test_status_list_and_cancel_find_a_running_job_and_cancel_it(vertex, capsys, pause, monkeypatch):
    held = pause("start")  # both jobs hold at start-up, before TensorFlow loads: running until cancelled
    for name, value in held.env().items():
        monkeypatch.setenv(name, value)
    where = fake_cloud(vertex)
    code, out, err = launch(
        capsys, "train", *where, *CPU, "--display-name", "lifecycle", "--labels", "team=a", "--no-wait", *TRAIN
    )
    assert code == 0, err
    name = re.search(r"^job: (\S+)", out, re.M).group(1)
    job_id = name.rsplit("/", 1)[-1]
    # A job this tool did not create: no label, so `list` shows it only with --all.
    foreign = aiplatform_v1.CustomJob.from_json(json.dumps(vertex.requests[-1][1]))
    foreign.display_name, foreign.labels = "someone-elses", {}
    foreign = _client(vertex).create_custom_job(
        parent="projects/demo-project/locations/us-central1", custom_job=foreign
    )
    held.wait(count=2, running=lambda: vertex.jobs[name].state != aiplatform_v1.JobState.JOB_STATE_FAILED)

    code, out, err = launch(capsys, "status", *where, job_id)
    assert code == 0, err
    assert f"job: {name} (lifecycle)\nstate: JOB_STATE_RUNNING\n" in out
    assert "machine: n1-standard-4, 1 replica" in out and "timeout: 24 h" in out
    assert (
        f"labels: source={JOB['source']},team=a,tool=mnist-vertex-trainer" in out
        and "outputs: gs://demo-bucket/lifecycle" in out
    )

    code, out, err = launch(capsys, "list", *where)
    assert code == 0, err
    rows = [line for line in out.splitlines() if job_id in line.split()]
    assert len(rows) == 1 and "JOB_STATE_RUNNING" in rows[0] and rows[0].endswith("lifecycle  (billing)")
    assert "someone-elses" not in out
    code, all_, err = launch(capsys, "list", *where, "--all")
    assert "someone-elses" in all_ and job_id in all_
    created = [line[:23] for line in all_.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert created == sorted(created, reverse=True)  # newest first

    for job in (name, foreign.name):
        code, out, err = launch(capsys, "cancel", *where, job)
        assert code == 0, err
        assert f"cancelling: {job}" in out and out.rstrip().endswith(f"cancelled: {job}")
        assert vertex.jobs[job].state == aiplatform_v1.JobState.JOB_STATE_CANCELLED
    code, out, err = launch(capsys, "cancel", *where, job_id)
    assert code == 0 and "already ended, JOB_STATE_CANCELLED; nothing to cancel" in out


@pytest.mark.parametrize("command", ["status", "cancel", "logs"])
def test_an_unknown_job_is_one_line(vertex, capsys, command):
    code, out, err = launch(capsys, command, *CLOUD, "--api-endpoint", vertex.endpoint, "987654")
    assert (code, err) == (
        2,
        "error: 987654: no such training or tuning job, or batch prediction job, in project demo-project, region us-central1\n",
    )


def test_tune_runs_trials_reports_the_best_deploys_its_model_and_status_shows_the_trials(vertex, capsys):
    """One tuning job through the fake (its trials are real trainer processes) read by every check of tune."""
    where = fake_cloud(vertex)
    argv = ["tune", *where, *CPU, "--display-name", "tuned", "--max-trials", "2", "--deploy", "--endpoint-name",
            "tuned-endpoint", "--model-name", "tuned", "--labels", "team=a", "--smoke", "--train-size", "256", "--test-size", "200",
            "--stage", "dropout", "--no-plots"]  # fmt: skip
    code, out, err = launch(capsys, *argv)
    assert code == 0, err
    (job,) = [j for j in vertex.jobs.values() if j.display_name == "tuned"]
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED and len(job.trials) == 2
    base, values = vertex.local_path("gs://demo-bucket/tuned"), {}
    for trial in job.trials:  # each trial's measurement is what its trainer reported through cloudml-hypertune
        reported = studies.reports(studies.chief_metric_file(base / trial.id), "accuracy")[-1][1]
        assert trial.final_measurement.metrics[0].value == pytest.approx(reported)
        assert (base / trial.id / "model" / "saved_model.pb").is_file()
        values[trial.id] = reported
    best = max(values, key=values.get)
    assert f"best: trial {best}, accuracy {values[best]:.4f}" in out
    (endpoint,) = [e for e in vertex.serving.endpoints.values() if e.display_name == "tuned-endpoint"]
    (deployed,) = endpoint.deployed_models
    model = vertex.serving._model(deployed.model)
    assert model.artifact_uri == f"gs://demo-bucket/tuned/{best}/model"
    assert dict(model.labels) == dict(endpoint.labels) == {**TOOL, "team": "a"}

    name = re.search(r"^job: (\S+)", out, re.M).group(1)
    code, out, err = launch(capsys, "status", *where, name)
    assert code == 0, err
    trials = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s+(SUCCEEDED|INFEASIBLE)", line)]
    assert [t[0] for t in trials] == ["1", "2"] and all(t[1] == "SUCCEEDED" for t in trials)
    assert all(re.fullmatch(r"0\.\d{4}", t[2]) for t in trials) and all("learning-rate=" in " ".join(t) for t in trials)
    code, out, err = launch(capsys, "list", *where)
    assert re.search(r"tuned-endpoint \[tuned-v\d+\]\s+\(billing", out), out


def test_tune_deploy_with_local_is_refused(capsys):
    code, out, err = launch(capsys, "tune", "--local", "--deploy", "--smoke")
    assert code == 2 and err.startswith("error: --deploy with --local:")


@pytest.mark.parametrize(
    "answer, expected",
    [((403, "PERMISSION_DENIED", "Permission 'aiplatform.customJobs.list' denied on resource"), "permission denied"),
     ((429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/read_requests"), "quota exceeded")],
    ids=["permission", "quota"],
)  # fmt: skip
def test_an_error_answer_to_list_is_one_line(vertex, capsys, answer, expected):
    where = fake_cloud(vertex)
    vertex.fail_next(*answer)
    code, out, err = launch(capsys, "list", *where)
    assert (code, err.count("\n")) == (2, 1) and err.startswith("error: ") and expected in err, err
