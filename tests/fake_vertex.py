"""A local fake of the Vertex AI REST API (v1) that the real google-cloud-aiplatform SDK talks to.

Every request body is parsed into the SDK's own aiplatform_v1 message types, unknown fields being
errors, and jobs really run (fake_jobs.py: local trainer processes with the Vertex AI environment; cancel,
timeout, lists filtered by label). gs://BUCKET/PATH output directories live under a local folder, as
Vertex's /gcs/ mount shows them to a job. fail_next() makes the next create answer with an error,
in the API's own error format, as a real quota, permission or argument problem would. The Model Registry,
endpoints and prediction live in fake_serving.py; Cloud Logging's entries:list, serving the lines the
jobs printed, in fake_logging.py; Artifact Registry's tags in fake_registry.py; the project's services,
repositories, quotas and service accounts in fake_project.py.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fake_operations as op
from fake_auth import FakeAuth
from fake_jobs import FakeJobs
from fake_logging import FakeLogging
from fake_project import FakeProject
from fake_registry import FakeRegistry
from fake_serving import FakeServing
from google.cloud import aiplatform_v1
from google.protobuf import json_format

PARENT = r"/v1/(projects/[^/]+/locations/[^/]+)"
COLLECTIONS = {"customJobs": aiplatform_v1.CustomJob, "hyperparameterTuningJobs": aiplatform_v1.HyperparameterTuningJob}
LISTED = {*COLLECTIONS, "batchPredictionJobs"}


class FakeVertex:
    def __init__(self, storage_root: Path) -> None:
        self.storage_root = storage_root
        self.requests: list[tuple[str, dict]] = []  # (collection, body) of every create, as received
        self.paths: list[str] = []  # the URL path of each of them
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._failures: list[tuple[int, str, str]] = []
        self.serving = FakeServing(self.local_path)
        self.logging = FakeLogging()
        self.registry = FakeRegistry()  # Artifact Registry: the images' tags and digests
        self.project = FakeProject()  # services, repositories, quotas, service accounts
        self.runner = FakeJobs(self.local_path, self.logging, self.serving._model)
        self.jobs = self.runner.jobs  # job name -> its CustomJob or HyperparameterTuningJob
        self._lock = self.runner.lock
        self.auth = FakeAuth()

    def fail_next(self, code: int, status: str, message: str) -> None:
        """The next create request (a job, a model upload, an endpoint, a deploy, a predict or a Cloud Logging
        entries:list), job list or cancel is answered with this error instead."""
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
        for name in list(self.runner.jobs):  # a failed test may leave its job running or held: end it, not wait
            self.runner.cancel(name)
        for t in self.runner.threads:
            t.join(timeout=300)

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
                    answer = (fake.serving.route(method, self.path) or fake.registry.route(method, self.path)
                              or fake.project.route(method, self.path))  # fmt: skip
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
                if cancel and fake._failures:
                    return self._error(*fake._failures.pop(0))
                if cancel:
                    found = fake.runner.cancel(cancel.group(1))
                    return (
                        self._reply(200, {}) if found else self._error(404, "NOT_FOUND", f"{cancel.group(1)} not found")
                    )
                match = re.fullmatch(PARENT + r"/(\w+)", self.path.split("?")[0])
                if match and match.group(2) == "batchPredictionJobs":
                    return self._batch(match.group(1), raw)
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
                    fake.paths.append(self.path)
                if fake._failures:
                    return self._error(*fake._failures.pop(0))
                fake.runner.start(parent, collection, job)
                self._reply(200, self._to_json(job))

            def _batch(self, parent: str, raw: str) -> None:
                """Create a BatchPredictionJob of a model in the fake's registry, reading and writing gs://."""
                try:
                    job = op.parse(aiplatform_v1.BatchPredictionJob, raw)
                    fake.serving._model(job.model)
                    uris = [*job.input_config.gcs_source.uris, job.output_config.gcs_destination.output_uri_prefix]
                    if job.input_config.instances_format != "jsonl" or not all(u.startswith("gs://") for u in uris):
                        raise op.Refused(op.INVALID_ARGUMENT, "jsonl instances and gs:// input and output are required")
                except op.Refused as e:
                    return self._reply(*op.error_answer(*e.args))
                with fake._lock:
                    fake.requests.append(("batchPredictionJobs", json.loads(raw)))
                if fake._failures:
                    return self._error(*fake._failures.pop(0))
                fake.runner.start(parent, "batchPredictionJobs", job)
                self._reply(200, self._to_json(job))

            def do_GET(self):
                if self._unauthenticated():
                    return
                if self._serving("GET"):
                    return
                path, _, query = self.path.partition("?")
                listing = re.fullmatch(PARENT + r"/(\w+)", path)
                if listing and listing.group(2) in LISTED and fake._failures:
                    return self._error(*fake._failures.pop(0))
                if listing and listing.group(2) in LISTED:
                    try:
                        found = fake.runner.listed(*listing.groups(), query)
                    except op.Refused as e:
                        return self._reply(*op.error_answer(*e.args))
                    with fake._lock:
                        return self._reply(200, op.list_answer(listing.group(2), found))
                name = path[len("/v1/") :]
                job = fake.jobs.get(name)
                if job is None:
                    return self._error(404, "NOT_FOUND", f"{name} not found")
                self._reply(200, self._to_json(job))

            @staticmethod
            def _to_json(job) -> str:
                with fake._lock:
                    return json_format.MessageToJson(type(job).pb(job))

        return Handler
