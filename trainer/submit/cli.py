"""./submit.sh, put together: the command line becomes frozen options and Settings, then each command runs its
steps in order (check, send, wait, the last error line on failure, deploy on success), and any error the cloud
answers becomes one line, here.

The one lazy point is dispatch (`_load`): each command imports the heavy modules it needs (the aiplatform SDK
for deploy and predict, Optuna for a local sweep, Cloud Logging once a job is sent) and no others, so
--help, `local` and a dry run start in about a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import requests
from google.api_core import exceptions

import trainer.submit as submit
from trainer.submit import errors, flags, scheduling
from trainer.submit.machines import Machine, from_message, machine_spec
from trainer.submit.options import BatchOptions, DeployOptions, JobOptions, TuneOptions
from trainer.submit.settings import ENVIRONMENT, Settings, SubmitError, settings, trainer_config

NO_DRY_RUN = {"deploy", "predict", "undeploy", "logs", "status", "list", "cancel", "batch-predict"}  # fmt: skip
# (each request of those depends on the answer to the one before)
WITHOUT_TRAINER_FLAGS = {"build", "serve", *NO_DRY_RUN}


def _load(*modules: str) -> None:
    """Import these modules of trainer.submit, e.g. _load("vertex") before submit.vertex is used."""
    for module in modules:
        importlib.import_module(f"trainer.submit.{module}")


def _settings(a: argparse.Namespace, need_bucket: bool) -> Settings:
    return settings({name: getattr(a, name, None) for name in ENVIRONMENT}, os.environ, need_bucket=need_bucket)


def _job_options(a: argparse.Namespace, machine: Machine) -> JobOptions:
    """The job's options on this machine (checked: flags, or hptuning.yaml's for tune)."""
    timeout = scheduling.seconds("--timeout", a.timeout)
    if a.max_wait is not None and not a.flex_start:
        raise SubmitError("--max-wait: only with --flex-start (how long to wait for Dynamic Workload Scheduler)")
    max_wait = None if a.max_wait is None else scheduling.seconds("--max-wait", a.max_wait, zero=True)
    if a.flex_start:
        scheduling.check_flex_start(machine.spec.get("accelerator_type"), machine.spec["machine_type"], a.spot, timeout)
    return JobOptions(
        display_name=a.display_name,
        machine=machine,
        replicas=a.replicas,
        spot=a.spot,
        restart_on_worker_restart=a.restart_on_worker_restart,
        dry_run=a.dry_run,
        no_wait=getattr(a, "no_wait", False),
        timeout=timeout,
        labels=tuple(scheduling.labels(a.labels).items()),
        flex_start=a.flex_start,
        max_wait=max_wait,
    )


def _machine(a: argparse.Namespace) -> Machine:
    return machine_spec(a.machine_type, a.accelerator_type, a.accelerator_count)


def _deploy_options(a: argparse.Namespace) -> DeployOptions:
    opts = DeployOptions(
        a.model_name, a.endpoint, a.endpoint_name, a.serving_machine_type,
        a.min_replicas, a.max_replicas, a.serving_image, a.keep_previous, tuple(scheduling.labels(a.labels).items()),
    )  # fmt: skip
    opts.check()
    return opts


def _credentials():
    _load("credentials")
    return submit.credentials.load()


def _send(job, s: Settings, opts: JobOptions, deploy: DeployOptions | None) -> int:
    """A dry run prints the job's request; else the steps of trainer.submit.steps, with --deploy's as the last."""
    if opts.dry_run:
        return submit.vertex.print_request(job)
    _load("steps")
    creds = _credentials()
    then = None
    if deploy:
        _load("serving")
        then = lambda model_dir: submit.serving.deploy(deploy, s, creds, model_dir)  # noqa: E731
    jobs = submit.vertex.client(s, creds)
    if isinstance(job, submit.vertex.aiplatform_v1.CustomJob):
        return submit.steps.train(jobs, s, creds, job, opts.no_wait, then)
    return submit.steps.tune(jobs, s, creds, job, then)


def _train(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=True)
    config = trainer_config(trainer_args)
    opts = _job_options(a, _machine(a))
    if a.deploy and a.no_wait:
        raise SubmitError("--deploy needs train to wait for the job; drop --no-wait, or deploy later")
    deploy = _deploy_options(a) if a.deploy else None  # checked now, not after the training
    _load("vertex")
    name = opts.display_name or f"mnist-{time.strftime('%Y%m%d-%H%M%S')}"
    job = submit.vertex.custom_job(opts, s, trainer_args, name, config.accelerator)
    return _send(job, s, opts, deploy)


def _tune(a: argparse.Namespace, trainer_args: list[str]) -> int:
    _load("study", "study_rules")
    tune = TuneOptions(a.config, a.max_trials, a.parallel_trials, a.local, a.container, a.output_dir)
    if a.deploy and a.local:
        raise SubmitError("--deploy with --local: the trials' models are on this machine; copy the best one to "
                          "gs:// (gcloud storage cp -r DIR gs://BUCKET/PATH) and run ./submit.sh deploy")  # fmt: skip
    deploy = _deploy_options(a) if a.deploy else None  # checked now, not after the sweep
    tuning = submit.study.load_config(tune.config)
    trial_args = [*tuning.trial_job_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
    config = trainer_config(trial_args)
    # Before anything is sent or run: the metric the trials report, Vertex AI's rules, every value a trial can get.
    trainer_args = [*trainer_args, *submit.study_rules.metric_flag(tuning, trial_args, str(tune.config))]
    submit.study_rules.check(tuning, trial_args, str(tune.config))
    # Flags override the file, as with gcloud's --config.
    tuning.max_trial_count = tune.max_trials or tuning.max_trial_count or 20
    tuning.parallel_trial_count = min(tune.parallel_trials or tuning.parallel_trial_count or 5, tuning.max_trial_count)
    if tune.local:  # the same folder again continues the study (its study.db)
        _load("sweep", "container")
        output = tune.output_dir or Path("runs") / (tuning.display_name or "mnist-tune")
        image = submit.container.image_for(config.accelerator == "tpu") if tune.container else None
        sweep = submit.sweep.Sweep(tuning.study_spec, tuning.trial_job_spec, trainer_args, output, image)
        return sweep.run(tuning.max_trial_count, tuning.parallel_trial_count)
    return _tune_on_vertex(a, tuning, trainer_args, config.accelerator, deploy)


def _tune_on_vertex(
    a: argparse.Namespace, tuning, trainer_args: list[str], accelerator: str, deploy: DeployOptions | None
) -> int:
    s = _settings(a, need_bucket=True)
    given = any(v is not None for v in (a.machine_type, a.accelerator_type, a.accelerator_count))
    yaml_machine = tuning.trial_job_spec.worker_pool_specs[0].machine_spec
    opts = _job_options(a, _machine(a) if given else from_message(yaml_machine))  # flags over the file
    _load("vertex")
    # A new folder for each sweep: trial N of another sweep must not resume from this one's backups.
    name = opts.display_name or f"{tuning.display_name or 'mnist-tune'}-{time.strftime('%Y%m%d-%H%M%S')}"
    return _send(submit.vertex.tuning_job(tuning, opts, s, trainer_args, name, accelerator), s, opts, deploy)


def _local(a: argparse.Namespace, trainer_args: list[str]) -> int:
    config = trainer_config(trainer_args)
    _load("local", "container")
    image = submit.container.image_for(config.accelerator == "tpu") if a.container else None
    output = a.output_dir or Path("runs") / f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    return submit.local.run_local(trainer_args, output, a.replicas, image)


def _build(a: argparse.Namespace, trainer_args: list[str]) -> int:
    if a.serving and not a.local:
        raise SubmitError("--serving: only with --local; ./submit.sh build builds the serving image too")
    if a.local:
        _load("container")
        return submit.container.build_local(a.tpu, a.dry_run, a.serving)
    _load("build")
    return submit.build.build(_settings(a, need_bucket=False), a.tpu, a.dry_run)


def _batch_predict(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    name = a.display_name or f"mnist-batch-{time.strftime('%Y%m%d-%H%M%S')}"
    opts = BatchOptions(name, tuple(a.input), a.output, a.model_dir, a.model, a.model_name, a.serving_image,
                        a.machine_type, a.replicas, tuple(scheduling.labels(a.labels).items()))  # fmt: skip
    _load("batch")
    return submit.batch.run(opts, s, _credentials())


def _serve(a: argparse.Namespace, trainer_args: list[str]) -> int:
    _load("serve_local")
    submit.serve_local.check_model_dir(a.model_dir)
    return submit.serve_local.serve(a.model_dir, a.port, submit.container.image_for(serving=True))


def _deploy(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s, opts = _settings(a, need_bucket=False), _deploy_options(a)
    _load("serving")
    submit.serving.check_model_dir(a.model_dir)
    return submit.serving.deploy(opts, s, _credentials(), a.model_dir)


def _predict(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("online")
    inputs = submit.online.read_all(a.files)  # every file first: a bad one is one line, and nothing is sent
    return submit.online.predict(s, _credentials(), a.endpoint, inputs)


def _undeploy(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("serving")
    return submit.serving.undeploy(s, _credentials(), a.endpoint, a.delete_endpoint)


def _logs(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("vertex", "logs")
    creds = _credentials()
    return submit.logs.show(s, creds, submit.vertex.client(s, creds), a.job, a.follow, a.poll_seconds)


def _lifecycle(a: argparse.Namespace, trainer_args: list[str]) -> int:
    """status JOB, list [--all], cancel JOB."""
    s = _settings(a, need_bucket=False)
    _load("vertex", "lifecycle")
    creds = _credentials()
    jobs, lifecycle = submit.vertex.client(s, creds), submit.lifecycle
    if a.command == "list":
        endpoints = submit.vertex.client(s, creds, lifecycle.aiplatform_v1.EndpointServiceClient)
        return lifecycle.list_all(jobs, endpoints, s, a.all)
    return (lifecycle.status if a.command == "status" else lifecycle.cancel)(jobs, s, a.job)


COMMANDS = {"build": _build, "train": _train, "tune": _tune, "local": _local, "deploy": _deploy,
            "predict": _predict, "undeploy": _undeploy, "logs": _logs,
            "batch-predict": _batch_predict, "serve": _serve, "status": _lifecycle, "list": _lifecycle, "cancel": _lifecycle}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`./submit.sh COMMAND [flags]`: returns the exit status (2 for a bad setting or an error the cloud
    answered, reported in one line)."""
    try:
        a, trainer_args = flags.parser().parse_known_args(argv)
    except SystemExit as e:  # --help (0), or argparse's one-line refusal (2), already printed
        return int(e.code or 0)
    if a.command in WITHOUT_TRAINER_FLAGS and trainer_args:
        print(f"error: ./submit.sh {a.command}: unknown arguments {' '.join(trainer_args)}", file=sys.stderr)
        return 2
    if a.command in NO_DRY_RUN and a.dry_run:
        print(f"error: --dry-run: ./submit.sh {a.command} has none (its requests depend on each other's answers)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        return COMMANDS[a.command](a, trainer_args)
    except SubmitError as e:  # one line whatever a value held (its parser quotes it; this is the backstop)
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except errors.StoppedWaiting as e:
        print(str(e), file=sys.stderr)
        return 130
    except exceptions.GoogleAPICallError as e:  # what the API answered: one line, whichever request it was
        print(f"error: {errors.explain(e, _settings(a, need_bucket=False))}", file=sys.stderr)
        return 2
    except (requests.exceptions.ConnectionError, exceptions.RetryError) as e:  # no answer at all
        print(f"error: {errors.unreachable(e, _settings(a, need_bucket=False))}", file=sys.stderr)
        return 2
