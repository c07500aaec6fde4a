"""The custom and tuning jobs of the fake Vertex AI API (tests/fake_vertex.py): each replica of each worker pool
really runs, as a local trainer process with the Vertex AI environment (trainer.submit.local.run_worker_pools),
its lines read as a logging agent would; a tuning job runs its trials that way, reading each trial's
cloudml-hypertune file for its final measurement.

States move as Vertex AI's do: PENDING, RUNNING, then SUCCEEDED or FAILED; a cancel moves a job to CANCELLING,
sends its processes SIGTERM (what Vertex AI sends first) and ends it CANCELLED. A job (or a tuning job's trial)
still running at its scheduling.timeout is stopped the same way and ends FAILED with DEADLINE_EXCEEDED; the
message is this fake's wording, not a documented one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import fake_operations as op
from conftest import sample_trials
from google.cloud import aiplatform_v1, storage
from google.rpc import status_pb2

from trainer.predictor import MnistPredictor
from trainer.submit import local, study

STATES = aiplatform_v1.JobState
DEADLINE_EXCEEDED = 4  # google.rpc.Code


class FakeJobs:
    def __init__(self, local_path, logging, model) -> None:
        self.local_path, self.logging, self.model = local_path, logging, model  # model: its name -> its Model
        self.jobs: dict[str, object] = {}
        self.lock = threading.Lock()
        self._processes: dict[str, list] = {}  # job name -> its replicas' processes
        self._timed_out: set[str] = set()
        self.threads: list[threading.Thread] = []

    def start(self, parent: str, collection: str, job) -> None:
        """Name the job, PENDING, and run it in a thread."""
        with self.lock:
            job.name = f"{parent}/{collection}/{len(self.jobs) + 1}"
            job.state = STATES.JOB_STATE_PENDING
            job.create_time = op.now()
            self.jobs[job.name] = job
        run = {"customJobs": self._run_custom_job, "hyperparameterTuningJobs": self._run_tuning_job,
               "batchPredictionJobs": self._run_batch_job}[collection]  # fmt: skip
        self.threads.append(threading.Thread(target=run, args=(job,), daemon=True))
        self.threads[-1].start()

    def listed(self, parent: str, collection: str, query: str) -> list:
        keep = op.list_filter(query)
        kind = {"customJobs": aiplatform_v1.CustomJob, "hyperparameterTuningJobs": aiplatform_v1.HyperparameterTuningJob,
                "batchPredictionJobs": aiplatform_v1.BatchPredictionJob}[collection]  # fmt: skip
        with self.lock:
            return [j for n, j in self.jobs.items() if n.startswith(parent + "/") and isinstance(j, kind) and keep(j)]

    def cancel(self, name: str) -> bool:
        job = self.jobs.get(name)
        if job is None:
            return False
        with self.lock:
            if job.state in (STATES.JOB_STATE_PENDING, STATES.JOB_STATE_RUNNING):
                job.state = STATES.JOB_STATE_CANCELLING
        self._stop(name)
        return True

    def _stop(self, name: str) -> None:
        for process in self._processes.get(name, []):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # what Vertex AI sends first; SIGKILL follows after a grace period

    def _run(self, job, spec, pools, out: Path, log_name: str, trial_id: str | None = None) -> int:
        """Run the pools, each replica's lines into the log file and into the fake Cloud Logging, labelled with
        the job, the replica and the trial; stopped at the spec's scheduling.timeout."""
        project, job_id = job.name.split("/")[1], job.name.rsplit("/", 1)[-1]
        readers, processes = [], self._processes.setdefault(job.name, [])
        timeout = spec.scheduling.timeout.total_seconds() if spec.scheduling.timeout else None
        timer = threading.Timer(timeout or 0, lambda: (self._timed_out.add(job.name), self._stop(job.name)))
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

            if timeout:
                timer.start()
            env = {e.name: e.value for e in spec.worker_pool_specs[0].container_spec.env}  # the container's own
            rc = local.run_worker_pools(pools, out, job_id, trial_id, subprocess.PIPE, started, container_env=env)
            timer.cancel()
            for reader in readers:
                reader.join()
        return rc

    def _begin(self, job) -> None:
        with self.lock:
            if job.state == STATES.JOB_STATE_PENDING:
                job.state, job.start_time = STATES.JOB_STATE_RUNNING, op.now()

    def _end(self, job, succeeded: bool, failure: str) -> None:
        with self.lock:
            if job.state == STATES.JOB_STATE_CANCELLING:
                job.state = STATES.JOB_STATE_CANCELLED
            elif job.name in self._timed_out:
                timeout = int(job_spec(job).scheduling.timeout.total_seconds())
                job.state = STATES.JOB_STATE_FAILED
                job.error = status_pb2.Status(
                    code=DEADLINE_EXCEEDED, message=f"The job ran past its timeout of {timeout}s and was stopped."
                )
            elif succeeded:
                job.state = STATES.JOB_STATE_SUCCEEDED
            else:
                job.state, job.error = STATES.JOB_STATE_FAILED, status_pb2.Status(code=3, message=failure)
            job.end_time = op.now()

    def _run_custom_job(self, job: aiplatform_v1.CustomJob) -> None:
        self._begin(job)
        spec = job.job_spec
        pools = [(int(p.replica_count), list(p.container_spec.args)) for p in spec.worker_pool_specs]
        out = self.local_path(spec.base_output_directory.output_uri_prefix)
        out.mkdir(parents=True, exist_ok=True)
        rc = self._run(job, spec, pools, out, "job.log") if job.state == STATES.JOB_STATE_RUNNING else 1
        self._end(job, rc == 0, f"A replica exited with a non-zero status of {rc}.")

    def _run_tuning_job(self, job: aiplatform_v1.HyperparameterTuningJob) -> None:
        self._begin(job)
        spec = job.trial_job_spec
        metric_id = job.study_spec.metrics[0].metric_id
        base = self.local_path(spec.base_output_directory.output_uri_prefix)
        for number, values in enumerate(sample_trials(job.study_spec, job.max_trial_count, seed=7), 1):
            if job.state != STATES.JOB_STATE_RUNNING or job.name in self._timed_out:
                break  # cancelled: no more trials
            trial = aiplatform_v1.Trial(
                id=str(number),
                state=aiplatform_v1.Trial.State.ACTIVE,
                start_time=op.now(),
                parameters=[{"parameter_id": k, "value": float(v)} for k, v in values.items()],
            )
            with self.lock:
                job.trials.append(trial)
            flags = [f"--{k}={v}" for k, v in values.items()]
            pools = [(int(p.replica_count), [*p.container_spec.args, *flags]) for p in spec.worker_pool_specs]
            out = base / str(number)
            out.mkdir(parents=True, exist_ok=True)
            rc = self._run(job, spec, pools, out, "trial.log", str(number))
            value = (study.reports(study.chief_metric_file(out), metric_id) or [(0, None)])[-1][1]
            with self.lock:
                trial = job.trials[number - 1]
                if rc == 0 and value is not None:
                    trial.final_measurement = aiplatform_v1.Measurement(
                        metrics=[{"metric_id": metric_id, "value": value}]
                    )
                    trial.state = aiplatform_v1.Trial.State.SUCCEEDED
                else:
                    trial.state = aiplatform_v1.Trial.State.INFEASIBLE
                trial.end_time = op.now()
        failed = sum(t.state != aiplatform_v1.Trial.State.SUCCEEDED for t in job.trials)
        self._end(job, failed <= job.max_failed_trial_count, f"{failed} trials failed.")

    def _run_batch_job(self, job: aiplatform_v1.BatchPredictionJob) -> None:
        """Vertex AI's batch prediction, for real: the JSON-lines instances read from Cloud Storage, run through the
        serving image's own predictor, written as prediction.results-00000-of-00001 under
        OUTPUT/prediction-MODEL-TIME/, each line {"instance": ..., "prediction": ...}."""
        self._begin(job)
        model = self.model(job.model)
        predictor = MnistPredictor()
        predictor.load(str(self.local_path(model.artifact_uri)))
        gcs = storage.Client()
        lines = []
        for uri in job.input_config.gcs_source.uris:
            bucket, name = uri[len("gs://") :].split("/", 1)
            lines += [
                json.loads(line) for line in gcs.bucket(bucket).blob(name).download_as_text().splitlines() if line
            ]
        predictions = predictor.postprocess(predictor.predict(predictor.preprocess({"instances": lines})))[
            "predictions"
        ]
        prefix = job.output_config.gcs_destination.output_uri_prefix
        folder = f"{prefix}/prediction-{model.display_name}-{job.create_time.strftime('%Y_%m_%dT%H_%M_%S_%fZ')}"
        bucket, name = folder[len("gs://") :].split("/", 1)
        results = "".join(
            json.dumps({"instance": i, "prediction": p}) + "\n" for i, p in zip(lines, predictions, strict=True)
        )
        gcs.bucket(bucket).blob(f"{name}/prediction.results-00000-of-00001").upload_from_string(results)
        with self.lock:
            job.output_info.gcs_output_directory = folder
            job.completion_stats.successful_count = len(predictions)
        self._end(job, True, "")


def job_spec(job) -> aiplatform_v1.CustomJobSpec:
    return job.job_spec if isinstance(job, aiplatform_v1.CustomJob) else job.trial_job_spec
