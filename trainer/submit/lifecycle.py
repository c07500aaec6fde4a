"""The way back to what this tool started: `status JOB`, `list [--all]`, `cancel JOB`, through Vertex AI's own
job and endpoint services (aiplatform_v1)."""

from __future__ import annotations

from google.cloud import aiplatform_v1

from trainer.submit import vertex
from trainer.submit.scheduling import TOOL_LABEL
from trainer.submit.settings import Settings

BILLING = {"JOB_STATE_RUNNING", "JOB_STATE_CANCELLING", "JOB_STATE_UPDATING"}  # machines are up


def _when(stamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp and stamp.year > 1970 else "-"


def _spec(job) -> aiplatform_v1.CustomJobSpec:
    return job.job_spec if isinstance(job, aiplatform_v1.CustomJob) else job.trial_job_spec


def _machine(spec: aiplatform_v1.CustomJobSpec) -> str:
    """e.g. g2-standard-8 with NVIDIA_L4 x 1, 3 replicas."""
    pools = list(spec.worker_pool_specs)
    machine = pools[0].machine_spec
    gpu = f" with {machine.accelerator_type.name} x {machine.accelerator_count}" if machine.accelerator_count else ""
    tpu = f" (TPU topology {machine.tpu_topology})" if machine.tpu_topology else ""
    replicas = sum(int(p.replica_count) for p in pools)
    return f"{machine.machine_type}{gpu}{tpu}, {replicas} replica{'s' * (replicas > 1)}"


def _batch_status(job: aiplatform_v1.BatchPredictionJob) -> None:
    resources = job.dedicated_resources
    print(
        f"model: {job.model}\nmachine: {resources.machine_spec.machine_type}, at most {resources.max_replica_count} replicas"
    )
    print(f"input: {' '.join(job.input_config.gcs_source.uris)}")
    print(f"output: {job.output_info.gcs_output_directory or job.output_config.gcs_destination.output_uri_prefix}")
    print(f"predictions: {job.completion_stats.successful_count} done, {job.completion_stats.failed_count} failed")


def _job_status(job) -> None:
    spec = _spec(job)
    scheduling = spec.scheduling
    print(f"machine: {_machine(spec)}" + (f", {scheduling.strategy.name}" if scheduling.strategy else ""))
    if scheduling.timeout:
        print(f"timeout: {scheduling.timeout.total_seconds() / 3600:g} h")
    if job.labels:
        print(f"labels: {','.join(f'{k}={v}' for k, v in sorted(job.labels.items()))}")
    print(f"outputs: {spec.base_output_directory.output_uri_prefix}\nconsole: {vertex.console_url(job.name)}")


def status(jobs: aiplatform_v1.JobServiceClient, s: Settings, name: str) -> int:
    """Print the job's state, times, machine and limits; for a tuning job, a table of its trials. Returns 0."""
    job = vertex.get(jobs, s, name)
    print(f"job: {job.name} ({job.display_name})\nstate: {job.state.name}")
    print(f"created: {_when(job.create_time)}  started: {_when(job.start_time)}  ended: {_when(job.end_time)}")
    (_batch_status if isinstance(job, aiplatform_v1.BatchPredictionJob) else _job_status)(job)
    if job.error.message:
        print(f"error: {' '.join(job.error.message.split())}")
    if isinstance(job, aiplatform_v1.HyperparameterTuningJob):
        metric = job.study_spec.metrics[0].metric_id
        print(f"\n{'trial':>5}  {'state':<10} {metric:>10}  parameters")
        for trial in job.trials:
            value = trial.final_measurement.metrics[0].value if trial.final_measurement.metrics else None
            shown = "-" if value is None else f"{value:.4f}"
            params = " ".join(f"{p.parameter_id}={p.value}" for p in trial.parameters)
            print(f"{trial.id:>5}  {trial.state.name:<10} {shown:>10}  {params}")
    return 0


def list_all(
    jobs: aiplatform_v1.JobServiceClient, endpoints: aiplatform_v1.EndpointServiceClient, s: Settings, everything: bool
) -> int:
    """Print the custom, tuning and batch prediction jobs, newest first, then the endpoints with deployed models; each marked
    `billing` while it runs machines. Only what carries this tool's label, unless everything. Returns 0."""
    where = {"parent": vertex.parent(s), "filter": "" if everything else f'labels.{TOOL_LABEL[0]}="{TOOL_LABEL[1]}"'}
    found = [("train", j) for j in jobs.list_custom_jobs(request=where)]
    found += [("tune", j) for j in jobs.list_hyperparameter_tuning_jobs(request=where)]
    found += [("batch", j) for j in jobs.list_batch_prediction_jobs(request=where)]
    found.sort(key=lambda pair: pair[1].create_time, reverse=True)
    print(f"{'created':<23}  {'kind':<5}  {'state':<22}  {'job':<24}  display name")
    for kind, job in found:
        billing = "  (billing)" if job.state.name in BILLING else ""
        job_id = job.name.rsplit("/", 1)[-1]
        print(
            f"{_when(job.create_time):<23}  {kind:<5}  {job.state.name:<22}  {job_id:<24}  {job.display_name}{billing}"
        )
    if not found:
        print("(no jobs)")
    serving = [e for e in endpoints.list_endpoints(request=where) if e.deployed_models]
    print(f"\n{'endpoint':<24}  {'models':>6}  display name")
    for endpoint in serving:
        models = ", ".join(m.display_name for m in endpoint.deployed_models)
        print(f"{endpoint.name.rsplit('/', 1)[-1]:<24}  {len(endpoint.deployed_models):>6}  {endpoint.display_name} "
              f"[{models}]  (billing: undeploy with ./submit.sh undeploy --endpoint ID)")  # fmt: skip
    if not serving:
        print("(no endpoint with a deployed model)")
    return 0


def cancel(jobs: aiplatform_v1.JobServiceClient, s: Settings, name: str) -> int:
    """Cancel the job and wait until it has ended; 0 once it is CANCELLED (or had already ended), else 1."""
    job = vertex.get(jobs, s, name)
    if job.state.name in vertex.ENDED:
        print(f"{job.name}: already ended, {job.state.name}; nothing to cancel", flush=True)
        return 0
    getattr(jobs, f"cancel_{vertex.kind(job)}")(name=job.name)
    print(f"cancelling: {job.name}", flush=True)
    job = vertex.wait(jobs, job)
    if job.state.name != "JOB_STATE_CANCELLED":
        print(f"error: {job.name} ended {job.state.name} before the cancellation took effect", flush=True)
        return 1
    print(f"cancelled: {job.name}", flush=True)
    return 0
