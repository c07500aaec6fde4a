"""A job's log lines from Cloud Logging (google-cloud-logging): `./submit.sh logs JOB [--follow]`, and the
trainer's last error line when a job or a trial fails.

Vertex AI labels each line of a training job as gcloud's `ai custom-jobs stream-logs` filters them:
resource.type "ml_job", resource.labels.job_id the job's ID, resource.labels.task_name the replica
(workerpool0-0 is the chief; workerpool1-N the other workers), and for a tuning job's trials the label
ml.googleapis.com/trial_id.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import timedelta

from trainer.submit import credentials, errors, vertex
from trainer.submit.settings import Settings, SubmitError

TRIAL_LABEL = "ml.googleapis.com/trial_id"
ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
SCAN_FOR_ERROR = 2000  # log lines read back from a job's end to find its last error line


def replica(task_name: str) -> str:
    """chief for workerpool0-0, worker-1 for workerpool1-0, and so on; other names as they are."""
    match = re.fullmatch(r"workerpool(\d+)-(\d+)", task_name or "")
    if not match:
        return task_name or "?"
    pool, index = int(match.group(1)), int(match.group(2))
    return "chief" if pool == 0 else f"worker-{index + 1}"


def _client(s: Settings):
    from google.cloud import logging

    if s.api_endpoint and s.api_endpoint.startswith("http://"):  # a local emulator serves Cloud Logging too
        return logging.Client(
            project=s.project,
            credentials=credentials.load(dry_run=False),
            _use_grpc=False,
            client_options={"api_endpoint": s.api_endpoint},
        )
    return logging.Client(project=s.project, credentials=credentials.load(dry_run=False))


def _text(entry) -> str:
    payload = entry.payload
    if isinstance(payload, dict):
        payload = payload.get("message", payload)
    return str(payload).rstrip("\n")


def _line(entry) -> str:
    where = replica(entry.resource.labels.get("task_name", "") if entry.resource else "")
    trial = (entry.labels or {}).get(TRIAL_LABEL)
    return f"{'trial-' + trial + '/' if trial else ''}{where}: {_text(entry)}"


def _filter(job_id: str, since, trial_id: str | None = None) -> str:
    """The job's lines since `since` (a datetime); the timestamp also stops the client adding its own 24 hours."""
    clauses = [
        'resource.type="ml_job"',
        f'resource.labels.job_id="{job_id}"',
        f'timestamp>="{since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"',
    ]
    if trial_id:
        clauses.append(f'labels."{TRIAL_LABEL}"="{trial_id}"')
    return " AND ".join(clauses)


def _entries(s: Settings, filter_: str, descending: bool = False):
    from google.cloud import logging

    order = logging.DESCENDING if descending else logging.ASCENDING
    return _client(s).list_entries(resource_names=[f"projects/{s.project}"], filter_=filter_, order_by=order)


def last_error(s: Settings, job, trial_id: str | None = None) -> str | None:
    """The trainer's last `error: ...` line in the job's (or trial's) log, with its replica, or None."""
    from google.api_core import exceptions

    job_id = job.resource_name.rsplit("/", 1)[-1]
    try:
        for number, entry in enumerate(_entries(s, _filter(job_id, job.create_time, trial_id), descending=True)):
            if _text(entry).startswith("error:"):
                return _line(entry)
            if number >= SCAN_FOR_ERROR:
                break
    except exceptions.GoogleAPICallError as e:
        return f"(its log could not be read: {errors.explain(e, s)})"
    return None


def _job(s: Settings, name: str):
    """The custom or tuning job by ID or resource name; one line (exit 2) if there is none."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    vertex.init_sdk(s, dry_run=False)
    kinds = [aiplatform.CustomJob, aiplatform.HyperparameterTuningJob]
    if "/hyperparameterTuningJobs/" in name:
        kinds.reverse()
    for kind in kinds:
        try:
            return kind.get(name)
        except (exceptions.NotFound, ValueError):
            continue
        except exceptions.GoogleAPICallError as e:
            errors.raise_one_line(e, s)
    raise SubmitError(f"{name}: no such training or tuning job in project {s.project}, region {s.region}")


def show(args, s: Settings) -> int:
    """Print the job's lines in order, one replica per prefix; with --follow, until the job has ended."""
    from google.api_core import exceptions

    job = _job(s, args.job)
    job_id = job.resource_name.rsplit("/", 1)[-1]
    since, seen = job.create_time - timedelta(minutes=1), set()
    while True:
        ended = job.state.name in ENDED  # read before the lines, so none written before the end is missed
        try:
            for entry in _entries(s, _filter(job_id, since)):
                if entry.insert_id not in seen:
                    seen.add(entry.insert_id)
                    print(_line(entry), flush=True)
                    since = max(since, entry.timestamp)
        except exceptions.GoogleAPICallError as e:
            errors.raise_one_line(e, s)
        if not args.follow or ended:
            break
        time.sleep(args.poll_seconds)
        job = type(job).get(job.resource_name)
    if args.follow:
        print(f"state: {job.state.name}", file=sys.stderr, flush=True)
    return 0
