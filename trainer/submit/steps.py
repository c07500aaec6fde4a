"""The steps of a job on Vertex AI, in order: send it, wait for it, the trainer's
last error line if it failed, then what follows success (`then`, e.g. deploying its model).

cli builds the job and `then` from the command line; these functions see only messages, Settings and
credentials."""

from __future__ import annotations

import sys
from collections.abc import Callable

from google.auth.credentials import Credentials
from google.cloud import aiplatform_v1

from trainer.submit import logs, vertex
from trainer.submit.errors import StoppedWaiting
from trainer.submit.settings import Settings
from trainer.submit.study import best_line
from trainer.training_contract import model_dir

Then = Callable[[str], int] | None  # the model folder of a succeeded job -> exit status


def wait(jobs: aiplatform_v1.JobServiceClient, job):
    """The job once it has ended; on Ctrl-C, StoppedWaiting saying how to come back to it."""
    try:
        return vertex.wait(jobs, job)
    except KeyboardInterrupt:
        raise StoppedWaiting(
            f"stopped waiting; {job.name} goes on in the cloud: ./submit.sh status {job.name}, "
            f"./submit.sh logs {job.name} --follow, ./submit.sh cancel {job.name}"
        ) from None


def succeeded(job) -> bool:
    """True if the job ended SUCCEEDED; else False, with the line that says how it ended."""
    if job.state.name == "JOB_STATE_SUCCEEDED":
        return True
    print(f"error: job {job.name} ended {job.state.name}: {' '.join(job.error.message.split())}", file=sys.stderr)
    return False


def print_last_error(s: Settings, credentials: Credentials, job, trial_id: str | None = None) -> None:
    """The trainer's own last error line from the job's log, and how to see the rest."""
    line = logs.last_error(s, credentials, job, trial_id)  # prefixed with its replica (and trial): chief, ...
    print(f"last error: {line or '(no error line in its log yet)'}", file=sys.stderr)
    print(f"all its lines: ./submit.sh logs {job.name}", file=sys.stderr, flush=True)


def train(
    jobs: aiplatform_v1.JobServiceClient,
    s: Settings,
    credentials: Credentials,
    job: aiplatform_v1.CustomJob,
    no_wait: bool,
    then: Then = None,
) -> int:
    """`./submit.sh train`: the CustomJob sent, waited for unless no_wait; returns the exit status."""
    output = job.job_spec.base_output_directory.output_uri_prefix
    job = vertex.create(jobs, s, job)
    print(
        f"job: {job.name}\nconsole: {vertex.console_url(job.name)}\noutputs: {output}\n"
        f"to resume it after a failure or a cancellation: the same command with --display-name {job.display_name}",
        flush=True,
    )
    if no_wait:
        return 0
    job = wait(jobs, job)
    if not succeeded(job):
        print_last_error(s, credentials, job)
        return 1
    return then(model_dir(output)) if then else 0


def tune(
    jobs: aiplatform_v1.JobServiceClient,
    s: Settings,
    credentials: Credentials,
    job: aiplatform_v1.HyperparameterTuningJob,
    then: Then = None,
) -> int:
    """`./submit.sh tune`: the HyperparameterTuningJob sent and waited for; each failed trial's last error line,
    then the best trial, whose model `then` gets. Returns the exit status."""
    job = vertex.create(jobs, s, job)
    print(f"job: {job.name}\nconsole: {vertex.console_url(job.name)}", flush=True)
    job = wait(jobs, job)
    if job.state.name != "JOB_STATE_SUCCEEDED":
        print(f"error: tuning job ended {job.state.name}: {' '.join(job.error.message.split())}", file=sys.stderr)
    for trial in job.trials:
        if trial.state.name == "INFEASIBLE":  # failed; trials stopped early end SUCCEEDED
            print_last_error(s, credentials, job, trial.id)
    best = vertex.best_trial(job)
    if best is None:
        print("error: no trial reported a metric", file=sys.stderr)
        return 1
    params = {p.parameter_id: str(p.value) for p in best.parameters}
    metric = job.study_spec.metrics[0].metric_id
    print(best_line(best.id, metric, best.final_measurement.metrics[0].value, params), flush=True)
    if job.state.name != "JOB_STATE_SUCCEEDED":
        return 1
    # The best trial's model, from its own output folder.
    return then(model_dir(f"{job.trial_job_spec.base_output_directory.output_uri_prefix}/{best.id}")) if then else 0
