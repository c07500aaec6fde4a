"""A job's log lines from Cloud Logging (google-cloud-logging): `./submit.sh logs JOB [--follow]`, and the
trainer's last error line when a job or a trial fails.

Vertex AI labels each line of a training job as gcloud's `ai custom-jobs stream-logs` filters them:
resource.type "ml_job", resource.labels.job_id the job's ID, resource.labels.task_name the replica
(workerpool0-0 is the chief; workerpool1-N the other workers), and for a tuning job's trials the label
ml.googleapis.com/trial_id.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from google.api_core import exceptions
from google.auth.credentials import Credentials
from google.cloud import aiplatform_v1, logging

from trainer.cluster import replica_name
from trainer.submit import clients, errors, vertex
from trainer.submit.settings import Settings

TRIAL_LABEL = "ml.googleapis.com/trial_id"
POLL_SECONDS = 10.0  # logs --follow reads new lines this often
SCAN_FOR_ERROR = 2000  # log lines read back from a job's end to find its last error line


def _client(s: Settings, credentials: Credentials) -> logging.Client:
    if clients.local(s):  # a local emulator serves Cloud Logging too
        return logging.Client(
            project=s.project, credentials=credentials, _use_grpc=False, client_options={"api_endpoint": s.api_endpoint}
        )
    return logging.Client(project=s.project, credentials=credentials)


def _text(entry) -> str:
    payload = entry.payload
    if isinstance(payload, dict):
        payload = payload.get("message", payload)
    return str(payload).rstrip("\n")


def _line(entry) -> str:
    where = replica_name(entry.resource.labels.get("task_name", "") if entry.resource else "")
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


def _entries(s: Settings, credentials: Credentials, filter_: str, descending: bool = False):
    order = logging.DESCENDING if descending else logging.ASCENDING
    return _client(s, credentials).list_entries(
        resource_names=[f"projects/{s.project}"], filter_=filter_, order_by=order
    )


def last_error(s: Settings, credentials: Credentials, job, trial_id: str | None = None) -> str | None:
    """The trainer's last `error: ...` line in the job's (or trial's) log, with its replica, or None."""
    job_id = job.name.rsplit("/", 1)[-1]
    try:
        entries = _entries(s, credentials, _filter(job_id, job.create_time, trial_id), descending=True)
        for number, entry in enumerate(entries):
            if _text(entry).startswith("error:"):
                return _line(entry)
            if number >= SCAN_FOR_ERROR:
                break
    except exceptions.GoogleAPICallError as e:
        return f"(its log could not be read: {errors.explain(e, s)})"
    return None


def show(s: Settings, credentials: Credentials, jobs: aiplatform_v1.JobServiceClient, name: str, follow: bool) -> int:
    """Print the job's lines in order, one replica per prefix; with follow, until the job has ended (read
    again every POLL_SECONDS)."""
    job = vertex.get(jobs, s, name)
    job_id = job.name.rsplit("/", 1)[-1]
    since, seen = job.create_time - timedelta(minutes=1), set()
    while True:
        ended = job.state.name in vertex.ENDED  # read before the lines, so none written before the end is missed
        for entry in _entries(s, credentials, _filter(job_id, since)):
            if entry.insert_id not in seen:
                seen.add(entry.insert_id)
                print(_line(entry), flush=True)
                since = max(since, entry.timestamp)
        if not follow or ended:
            break
        time.sleep(POLL_SECONDS)
        job = vertex.get(jobs, s, job.name)
    if follow:
        print(f"state: {job.state.name}", file=sys.stderr, flush=True)
    return 0
