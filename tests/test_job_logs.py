"""A failed job, read back: the trainer's last error line in train's and tune's output, `logs` with each replica's
lines named and in order, `logs --follow` on a running job, and the Cloud Logging API's error answers; the real
aiplatform and Cloud Logging clients against the fake Vertex AI API."""

from __future__ import annotations

import pytest
from conftest import fake_cloud, launch

from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")
JOB = ["--machine-type", "n1-standard-4", "--accelerator-count", "0"]


@pytest.fixture(scope="session")  # once per worker
def failed(vertex):
    """A 2-replica job whose trainer fails at once (its data folder is missing: a /gcs/ path, which the launcher
    leaves to the job): train's exit, stderr."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err = io.StringIO()
    argv = ["train", *fake_cloud(vertex), "--display-name", "failing-job", *JOB, "--replicas", "2",
            "--stage", "dense", "--data-dir", "/gcs/demo-bucket/missing"]  # fmt: skip
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = cli.main(argv)
    (job,) = [j for j in vertex.jobs.values() if j.display_name == "failing-job"]
    return code, err.getvalue(), job


def test_a_failed_train_prints_the_trainers_last_error_line(failed):
    code, err, job = failed
    assert code == 1
    assert "JOB_STATE_FAILED" in err
    assert "last error: chief: error: /gcs/demo-bucket/missing: no such folder" in err or (
        "last error: worker-1: error: /gcs/demo-bucket/missing: no such folder" in err
    )
    assert f"./submit.sh logs {job.name}" in err


def test_logs_prints_the_replicas_lines_in_order_each_named_with_the_error_line(vertex, failed, capsys):
    """Both replicas fail at once, and the first to fail ends the job, as on Vertex AI (local.run_worker_pools):
    whether the other logged its own error line first is a race, so the lines are checked against what the
    fake Cloud Logging recorded, each under its replica's name (test_distribution names every pool)."""
    _, _, job = failed
    job_id = job.name.rsplit("/", 1)[-1]
    code, out, err = launch(capsys, "logs", *fake_cloud(vertex), job_id)
    assert code == 0, err
    lines = out.splitlines()
    recorded = [e for e in vertex.logging.entries if e["resource"]["labels"]["job_id"] == job_id]
    expected = sorted(recorded, key=lambda e: (e["timestamp"], e["insertId"]))
    named = {"workerpool0-0": "chief", "workerpool1-0": "worker-1"}
    assert lines == [f"{named[e['resource']['labels']['task_name']]}: {e['jsonPayload']['message']}" for e in expected]
    errors = tuple(f"{replica}: error: /gcs/demo-bucket/missing: no such folder" for replica in named.values())
    assert any(line.startswith(errors) for line in lines), out
    code, followed, _ = launch(capsys, "logs", *fake_cloud(vertex), job.name, "--follow")
    assert (code, followed) == (0, out)  # an ended job: its lines once, then the follow stops


def test_logs_follow_prints_a_running_jobs_lines_until_it_ends(vertex, capsys):
    argv = ["train", *fake_cloud(vertex), "--display-name", "followed-job", *JOB, "--no-wait",
            "--stage", "dense", "--smoke"]  # fmt: skip
    code, out, err = launch(capsys, *argv)
    assert code == 0, err
    (job,) = [j for j in vertex.jobs.values() if j.display_name == "followed-job"]
    code, out, err = launch(capsys, "logs", *fake_cloud(vertex), job.name, "--follow")
    assert code == 0 and "state: JOB_STATE_SUCCEEDED" in err
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    recorded = [e for e in vertex.logging.entries if e["resource"]["labels"]["job_id"] == job.name.rsplit("/", 1)[-1]]
    assert len(out.splitlines()) == len(recorded) > 3
    assert any("test accuracy" in line or "accuracy" in line for line in out.splitlines())


def test_a_failed_tuning_trial_prints_the_trainers_last_error_line(vertex, capsys):
    argv = ["tune", *fake_cloud(vertex), "--display-name", "failing-tune", "--max-trials", "1", "--parallel-trials", "1",
            *JOB, "--data-dir", "/gcs/demo-bucket/missing"]  # fmt: skip
    code, out, err = launch(capsys, *argv)
    assert code == 1
    assert "last error: trial-1/chief: error: /gcs/demo-bucket/missing: no such folder" in err, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "command, answer, message",
    [
        (
            ["deploy", "--model-dir", "gs://demo-bucket/serve-job/model"],
            (403, "PERMISSION_DENIED", "Permission 'aiplatform.models.upload' denied on resource (or it may not exist)."),
            "permission denied in project demo-project (Permission 'aiplatform.models.upload' denied",
        ),
        (
            ["logs", "FAILED_JOB"],
            (403, "PERMISSION_DENIED", "Cloud Logging API has not been used in project demo-project before or it "
             "is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
             "logging.googleapis.com/overview?project=demo-project [SERVICE_DISABLED]"),
            "run: gcloud services enable logging.googleapis.com --project demo-project",
        ),
        (
            ["logs", "FAILED_JOB"],
            (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests' of service "
             "'logging.googleapis.com'"),
            "quota exceeded in us-central1 for project demo-project",
        ),
    ],
)  # fmt: skip
def test_an_error_answer_from_the_api_is_one_line_and_creates_nothing(vertex, failed, capsys, command, answer, message):
    _, _, job = failed
    models = len(vertex.serving.models)
    vertex.fail_next(*answer)
    argv = [job.name if a == "FAILED_JOB" else a for a in command]
    code, out, err = launch(capsys, argv[0], *fake_cloud(vertex), *argv[1:])
    assert (code, len(err.splitlines())) == (2, 1), err
    assert err.startswith("error: ") and message in err, err
    assert len(vertex.serving.models) == models and not vertex._failures
