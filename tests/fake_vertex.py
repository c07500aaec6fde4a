"""A local fake of the Vertex AI REST API (v1) that the real google-cloud-aiplatform SDK talks to.

Every request body is parsed into the SDK's own aiplatform_v1 message types, unknown fields being
errors, and jobs really run: each replica of each worker pool is a local trainer process with the
Vertex AI environment (trainer.submit.local.run_worker_pools), and a tuning job runs its trials that way,
reading each trial's cloudml-hypertune file for its final measurement. gs://BUCKET/PATH output
directories live under a local folder, as Vertex's /gcs/ mount shows them to a job. Cancelling a job
sends its processes SIGTERM, as Vertex AI does; fail_next() makes the next create answer with an error,
in the API's own error format, as a real quota, permission or argument problem would. The Model Registry,
endpoints and prediction live in fake_serving.py; Cloud Logging's entries:list, serving the lines the
jobs printed, in fake_logging.py.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import sample_trials
from fake_auth import FakeAuth
from fake_logging import FakeLogging
from fake_serving import FakeServing
from google.cloud import aiplatform_v1
from google.protobuf import json_format, timestamp_pb2

from trainer.submit import local, study

PARENT = r"/v1/(projects/[^/]+/locations/[^/]+)"
COLLECTIONS = {"customJobs": aiplatform_v1.CustomJob, "hyperparameterTuningJobs": aiplatform_v1.HyperparameterTuningJob}


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class FakeVertex:
    def __init__(self, storage_root: Path) -> None:
        self.storage_root = storage_root
        self.jobs: dict[str, object] = {}
        self.requests: list[tuple[str, dict]] = []  # (collection, body) of every create, as received
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._threads: list[threading.Thread] = []
        self._failures: list[tuple[int, str, str]] = []
        self._processes: dict[str, list] = {}  # job name -> its replicas' processes
        self.serving = FakeServing(self.local_path)
        self.logging = FakeLogging()
        self.auth = FakeAuth()

    def fail_next(self, code: int, status: str, message: str) -> None:
        """The next create request (a job, a model upload, an endpoint, a deploy, a predict or a Cloud Logging
        entries:list) is answered with this error instead."""
        self._failures.append((code, status, message))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def local_path(self, uri: str) -> Path:
        assert uri.startswith("gs://"), uri
        return self.storage_root / uri[len("gs://") :]

    def __enter__(self) -> FakeVertex:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        for t in self._threads:
            t.join(timeout=300)

    # ------------------------------------------------------------ running jobs

    def _run(self, job, pools, out: Path, log_name: str, trial_id: str | None = None) -> int:
        """Run the pools as Vertex AI would, each replica's lines read as its logging agent would: into the log
        file, and into the fake Cloud Logging labelled with the job, the replica and the trial."""
        project, job_id = job.name.split("/")[1], job.name.rsplit("/", 1)[-1]
        readers, processes = [], self._processes.setdefault(job.name, [])
        with open(out / log_name, "w") as log:

            def forward(task: str, process: subprocess.Popen) -> None:
                for raw in process.stdout:
                    line = raw.decode(errors="replace")
                    log.write(line)
                    log.flush()
                    self.logging.record(project, job_id, task, line.rstrip("\n"), trial_id)

            def started(task: str, process: subprocess.Popen) -> None:
                processes.append(process)
                readers.append(threading.Thread(target=forward, args=(task, process)))
                readers[-1].start()

            rc = local.run_worker_pools(pools, out, job_id, trial_id, subprocess.PIPE, started)
            for reader in readers:
                reader.join()
        return rc

    def _set(self, job, **fields) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(job, key, value)

    def _run_custom_job(self, job: aiplatform_v1.CustomJob) -> None:
        self._set(job, state=aiplatform_v1.JobState.JOB_STATE_RUNNING, start_time=_now())
        spec = job.job_spec
        pools = [(int(p.replica_count), list(p.container_spec.args)) for p in spec.worker_pool_specs]
        out = self.local_path(spec.base_output_directory.output_uri_prefix)
        out.mkdir(parents=True, exist_ok=True)
        rc = self._run(job, pools, out, "job.log")
        states = aiplatform_v1.JobState
        state = states.JOB_STATE_SUCCEEDED if rc == 0 else states.JOB_STATE_FAILED
        if job.state == states.JOB_STATE_CANCELLING:
            state = states.JOB_STATE_CANCELLED
        self._set(job, state=state, end_time=_now())

    def _cancel(self, name: str) -> bool:
        job = self.jobs.get(name)
        if job is None:
            return False
        self._set(job, state=aiplatform_v1.JobState.JOB_STATE_CANCELLING)
        for process in self._processes.get(name, []):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # what Vertex AI sends first; SIGKILL follows after a grace period
        return True

    def _run_tuning_job(self, job: aiplatform_v1.HyperparameterTuningJob) -> None:
        self._set(job, state=aiplatform_v1.JobState.JOB_STATE_RUNNING, start_time=_now())
        spec = job.trial_job_spec
        metric_id = job.study_spec.metrics[0].metric_id
        base = self.local_path(spec.base_output_directory.output_uri_prefix)
        for number, values in enumerate(sample_trials(job.study_spec, job.max_trial_count, seed=7), 1):
            trial = aiplatform_v1.Trial(
                id=str(number),
                state=aiplatform_v1.Trial.State.ACTIVE,
                start_time=_now(),
                parameters=[{"parameter_id": k, "value": float(v)} for k, v in values.items()],
            )
            with self._lock:
                job.trials.append(trial)
            flags = [f"--{k}={v}" for k, v in values.items()]
            pools = [(int(p.replica_count), [*p.container_spec.args, *flags]) for p in spec.worker_pool_specs]
            out = base / str(number)
            out.mkdir(parents=True, exist_ok=True)
            rc = self._run(job, pools, out, "trial.log", str(number))
            value = (study.reports(study.chief_metric_file(out), metric_id) or [(0, None)])[-1][1]
            with self._lock:
                trial = job.trials[number - 1]
                if rc == 0 and value is not None:
                    trial.final_measurement = aiplatform_v1.Measurement(
                        metrics=[{"metric_id": metric_id, "value": value}]
                    )
                    trial.state = aiplatform_v1.Trial.State.SUCCEEDED
                else:
                    trial.state = aiplatform_v1.Trial.State.INFEASIBLE
                trial.end_time = _now()
        failed = sum(t.state != aiplatform_v1.Trial.State.SUCCEEDED for t in job.trials)
        state = (
            aiplatform_v1.JobState.JOB_STATE_FAILED
            if failed > job.max_failed_trial_count
            else aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
        )
        self._set(job, state=state, end_time=_now())

    # ------------------------------------------------------------ HTTP

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, code: int, body: dict | str) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, status: str, message: str) -> None:
                self._reply(code, {"error": {"code": code, "status": status, "message": message}})

            def _serving(self, method: str, raw: str = "") -> bool:
                """Answer a Model Registry, endpoint, prediction or Cloud Logging request; False if not one."""
                if method == "POST" and self.path.split("?")[0] == "/v2/entries:list":
                    answer = fake.logging.list_entries
                else:
                    answer = fake.serving.route(method, self.path)
                if answer is None:
                    return False
                if method == "POST" and fake._failures:
                    self._error(*fake._failures.pop(0))
                else:
                    self._reply(*answer(raw))
                return True

            def _unauthenticated(self) -> bool:
                """Answer 401, as Google's APIs do, unless the request carries a token the fake issued."""
                if fake.auth.allows(self.headers.get("Authorization")):
                    return False
                self._error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
                return True

            def do_DELETE(self):
                if self._unauthenticated():
                    return
                if not self._serving("DELETE"):
                    self._error(404, "NOT_FOUND", f"no such method: DELETE {self.path}")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.path == "/token":
                    return self._reply(*fake.auth.token(raw))
                if self._unauthenticated():
                    return
                if self._serving("POST", raw):
                    return
                cancel = re.fullmatch(r"/v1/(" + PARENT[4:] + r"/\w+/\d+):cancel", self.path.split("?")[0])
                if cancel:
                    found = fake._cancel(cancel.group(1))
                    return (
                        self._reply(200, {}) if found else self._error(404, "NOT_FOUND", f"{cancel.group(1)} not found")
                    )
                match = re.fullmatch(PARENT + r"/(\w+)", self.path.split("?")[0])
                if not match or match.group(2) not in COLLECTIONS:
                    return self._error(404, "NOT_FOUND", f"no such method: POST {self.path}")
                parent, collection = match.groups()
                message_type = COLLECTIONS[collection]
                try:
                    job = message_type.from_json(raw, ignore_unknown_fields=False)
                except json_format.ParseError as e:
                    return self._error(400, "INVALID_ARGUMENT", f"bad {message_type.__name__}: {e}")
                spec = job.job_spec if collection == "customJobs" else job.trial_job_spec
                if (
                    not job.display_name
                    or not spec.worker_pool_specs
                    or not all(p.container_spec.image_uri for p in spec.worker_pool_specs)
                ):
                    return self._error(
                        400, "INVALID_ARGUMENT", "display_name and worker pools with an image are required"
                    )
                if not spec.base_output_directory.output_uri_prefix.startswith("gs://"):
                    return self._error(400, "INVALID_ARGUMENT", "base_output_directory must be a gs:// URI")
                with fake._lock:
                    fake.requests.append((collection, json.loads(raw)))  # recorded even when refused below
                if fake._failures:
                    return self._error(*fake._failures.pop(0))
                with fake._lock:
                    job.name = f"{parent}/{collection}/{len(fake.jobs) + 1}"
                    job.state = aiplatform_v1.JobState.JOB_STATE_PENDING
                    job.create_time = _now()
                    fake.jobs[job.name] = job
                run = fake._run_custom_job if collection == "customJobs" else fake._run_tuning_job
                thread = threading.Thread(target=run, args=(job,), daemon=True)
                fake._threads.append(thread)
                thread.start()
                self._reply(200, self._to_json(job))

            def do_GET(self):
                if self._unauthenticated():
                    return
                if self._serving("GET"):
                    return
                name = self.path.split("?")[0][len("/v1/") :]
                job = fake.jobs.get(name)
                if job is None:
                    return self._error(404, "NOT_FOUND", f"{name} not found")
                self._reply(200, self._to_json(job))

            @staticmethod
            def _to_json(job) -> str:
                with fake._lock:
                    return json_format.MessageToJson(type(job).pb(job))

        return Handler
