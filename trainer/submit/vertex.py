"""Jobs on Vertex AI through the aiplatform SDK: custom jobs and tuning jobs, and dry runs that print
the exact request the SDK built and send nothing."""

from __future__ import annotations

import logging
import re
import sys
import time

from trainer.submit import credentials, errors, machines
from trainer.submit.settings import Settings


class DryRun(Exception):
    """Raised instead of sending a request when --dry-run is given."""


class _PrintingClient:
    """Stands in for the SDK's API client: prints the exact request the SDK built and sends nothing."""

    def __getattr__(self, method):
        def send(parent, timeout=None, **request):
            ((_, message),) = request.items()
            from google.protobuf import json_format

            print(json_format.MessageToJson(type(message).pb(message), indent=2))
            raise DryRun(method)

        return send


def console_url(resource_name: str) -> str:
    """The Cloud console page of a training or tuning job, from its resource name (as the SDK's own log shows it)."""
    match = re.fullmatch(r"projects/([^/]+)/locations/([^/]+)/\w+/([^/]+)", resource_name)
    if not match:
        return ""
    project, location, job = match.groups()
    return f"https://console.cloud.google.com/agent-platform/locations/{location}/training/{job}?project={project}"


def init_sdk(s: Settings, dry_run: bool) -> None:
    """Configure the SDK once for this command, with credentials checked before any request."""
    from google.cloud import aiplatform

    local_endpoint = bool(s.api_endpoint and s.api_endpoint.startswith("http://"))
    aiplatform.init(
        project=s.project,
        location=s.region,
        staging_bucket=s.bucket,
        api_endpoint=s.api_endpoint,
        api_transport="rest" if local_endpoint else None,  # a local server speaks REST, not gRPC
        credentials=credentials.load(dry_run),
    )


def _run_options(args, s: Settings) -> dict:
    from google.cloud import aiplatform_v1

    return {
        "service_account": s.service_account,
        "tensorboard": s.tensorboard,
        "restart_job_on_worker_restart": args.restart_on_worker_restart,
        "scheduling_strategy": aiplatform_v1.Scheduling.Strategy.SPOT if args.spot else None,
    }


def _submit(job, dry_run: bool, send, s: Settings) -> bool:
    """Send the job's create request through the SDK, or on a dry run print it and send nothing. True if sent.
    An error the API answers with becomes one line (SubmitError)."""
    from google.api_core import exceptions

    if dry_run:
        job.api_client = _PrintingClient()
        logging.disable(logging.INFO)  # the SDK logs to stdout; a dry run prints the request alone
    try:
        send()
    except DryRun:
        return False
    except exceptions.GoogleAPICallError as e:
        errors.raise_one_line(e, s)
    return True


def _pools(args, s: Settings, trainer_args: list[str], machine: machines.Machine) -> list[dict]:
    """The worker pools on this machine, with the image for its kind (TPU or not) and --accelerator for the trainer."""
    image = s.tpu_image_uri if machine.accelerator == "tpu" else s.image_uri
    if not any(a == "--accelerator" or a.startswith("--accelerator=") for a in trainer_args):
        trainer_args = [*trainer_args, f"--accelerator={machine.accelerator}"]  # the trainer fails fast without it
    return machines.worker_pool_specs(image, trainer_args, machine.spec, args.replicas)


def submit_train(args, s: Settings, trainer_args: list[str]) -> int:
    """`./submit.sh train`: a CustomJob, waited for unless --no-wait; returns the exit status."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    machine = machines.machine_spec(args)
    init_sdk(s, args.dry_run)
    name = args.display_name or f"mnist-{time.strftime('%Y%m%d-%H%M%S')}"
    job = aiplatform.CustomJob(
        display_name=name,
        worker_pool_specs=_pools(args, s, trainer_args, machine),
        base_output_dir=f"{s.bucket}/{name}",  # the same name again: the same checkpoints, so the trainer resumes
    )
    if not _submit(job, args.dry_run, lambda: job.submit(**_run_options(args, s)), s):
        return 0
    print(
        f"job: {job.resource_name}\nconsole: {console_url(job.resource_name)}\noutputs: {s.bucket}/{name}\n"
        f"to resume it after a failure or a cancellation: the same command with --display-name {name}",
        flush=True,
    )
    if args.no_wait:
        return 0
    try:
        job.wait_for_completion()  # the SDK logs the job's state as it changes
    except exceptions.GoogleAPICallError as e:
        errors.raise_one_line(e, s)
    except RuntimeError as e:
        print(f"error: job {job.resource_name} ended {job.state.name}: {' '.join(str(e).split())}", file=sys.stderr)
        _print_last_error(s, job)
        return 1
    print(f"state: {job.state.name}", flush=True)
    if args.deploy:
        from trainer.submit import serving

        return serving.deploy(args, s, f"{s.bucket}/{name}/model")
    return 0


def _print_last_error(s: Settings, job, trial_id: str | None = None) -> None:
    """The trainer's own last error line from the job's log, and how to see the rest."""
    from trainer.submit import logs

    line = logs.last_error(s, job, trial_id)  # prefixed with its replica (and trial): chief, trial-3/chief, ...
    print(f"last error: {line or '(no error line in its log yet)'}", file=sys.stderr)
    print(f"all its lines: ./submit.sh logs {job.resource_name}", file=sys.stderr, flush=True)


def submit_tune(args, s: Settings, trainer_args: list[str], tuning) -> int:
    """`./submit.sh tune`: the HyperparameterTuningJob of hptuning.yaml (an aiplatform_v1 message), its study
    sent as written, waited for; prints the best trial."""
    from google.cloud import aiplatform

    study, trial_spec = tuning.study_spec, tuning.trial_job_spec

    yaml_spec = trial_spec.worker_pool_specs[0].machine_spec
    given = any(v is not None for v in (args.machine_type, args.accelerator_type, args.accelerator_count))
    machine = machines.machine_spec(args) if given else machines.from_message(yaml_spec)  # flags over the file
    init_sdk(s, args.dry_run)
    # A new folder for each sweep: trial N of another sweep must not resume from this one's backups.
    name = args.display_name or f"{tuning.display_name or 'mnist-tune'}-{time.strftime('%Y%m%d-%H%M%S')}"
    base_args = list(trial_spec.worker_pool_specs[0].container_spec.args)
    trial_job = aiplatform.CustomJob(
        display_name=f"{name}-trial",
        worker_pool_specs=_pools(args, s, [*base_args, *trainer_args], machine),
        base_output_dir=f"{s.bucket}/{name}",
    )
    metric = study.metrics[0]
    job = aiplatform.HyperparameterTuningJob(
        display_name=name,
        custom_job=trial_job,
        metric_spec={metric.metric_id: metric.goal.name.lower()},
        parameter_spec={},  # replaced below by the whole study
        max_trial_count=tuning.max_trial_count,  # with the flags' overrides (cli._tune)
        parallel_trial_count=tuning.parallel_trial_count,
        max_failed_trial_count=tuning.max_failed_trial_count,
        labels=dict(tuning.labels) or None,
        encryption_spec_key_name=tuning.encryption_spec.kms_key_name or None,
    )
    # The SDK's constructor has no argument for stopping specs, conditional parameters or observation
    # noise: the request carries the study exactly as hptuning.yaml wrote it, on the SDK's own aiplatform_v1
    # message (GoogleCloudPlatform/vertex-ai-samples#180 asked for early stopping; the SDK never passed it).
    job._gca_resource.study_spec = study
    try:
        if not _submit(job, args.dry_run, lambda: job.run(sync=True, **_run_options(args, s)), s):
            return 0
    except RuntimeError as e:  # the SDK raises when the job ends failed; its trials still tell what happened
        print(f"error: tuning job ended {job.state.name}: {' '.join(str(e).split())}", file=sys.stderr)
    print(f"job: {job.resource_name}\nconsole: {console_url(job.resource_name)}\nstate: {job.state.name}", flush=True)
    for trial in job.trials:
        if trial.state.name == "INFEASIBLE":  # failed; trials stopped early end SUCCEEDED
            _print_last_error(s, job, trial.id)
    finished = [t for t in job.trials if t.final_measurement.metrics]
    if not finished:
        print("error: no trial reported a metric", file=sys.stderr)
        return 1
    pick = max if metric.goal.name == "MAXIMIZE" else min
    best = pick(finished, key=lambda t: t.final_measurement.metrics[0].value)
    params = " ".join(f"--{p.parameter_id}={p.value}" for p in best.parameters)
    print(
        f"best: trial {best.id}, {metric.metric_id} {best.final_measurement.metrics[0].value:.4f}, {params}", flush=True
    )
    return 0 if job.state.name == "JOB_STATE_SUCCEEDED" else 1
