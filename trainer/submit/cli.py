"""./submit.sh, put together: the command line becomes frozen options and Settings, then each command runs its
steps in order (check, send, wait, the last error line on failure, deploy on success), and any error the cloud
answers becomes one line, here.

The one lazy point is dispatch (`_load`): each command imports the heavy modules it needs (the aiplatform SDK
for deploy and predict, Optuna for a local sweep, Cloud Logging once a job has failed) and no others, so
--help, `local` and a dry run start in about a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from google.api_core import exceptions

import trainer.submit as submit
from trainer.submit import errors, flags
from trainer.submit.machines import machine_spec
from trainer.submit.options import DeployOptions, JobOptions, TuneOptions
from trainer.submit.settings import ENVIRONMENT, Settings, SubmitError, settings, trainer_config

NO_DRY_RUN = {"deploy", "predict", "undeploy", "logs"}  # each request depends on the answer to the one before
WITHOUT_TRAINER_FLAGS = {"build", *NO_DRY_RUN}


def _load(*modules: str) -> None:
    """Import these modules of trainer.submit, e.g. _load("vertex") before submit.vertex is used."""
    for module in modules:
        importlib.import_module(f"trainer.submit.{module}")


def _settings(a: argparse.Namespace, need_bucket: bool) -> Settings:
    return settings({name: getattr(a, name, None) for name in ENVIRONMENT}, os.environ, need_bucket=need_bucket)


def _job_options(a: argparse.Namespace, machine_given: bool = True) -> JobOptions:
    """The job's options; machine_given False (tune without machine flags): hptuning.yaml's machine."""
    return JobOptions(
        display_name=a.display_name,
        machine=machine_spec(a.machine_type, a.accelerator_type, a.accelerator_count) if machine_given else None,
        replicas=a.replicas,
        spot=a.spot,
        restart_on_worker_restart=a.restart_on_worker_restart,
        dry_run=a.dry_run,
        no_wait=getattr(a, "no_wait", False),
    )


def _deploy_options(a: argparse.Namespace) -> DeployOptions:
    opts = DeployOptions(
        a.model_name, a.endpoint, a.endpoint_name, a.serving_machine_type,
        a.min_replicas, a.max_replicas, a.serving_image, a.keep_previous,
    )  # fmt: skip
    opts.check()
    return opts


def _credentials(dry_run: bool):
    _load("credentials")
    return submit.credentials.load(dry_run)


def _print_last_error(s: Settings, creds, job, trial_id: str | None = None) -> None:
    """The trainer's own last error line from the job's log, and how to see the rest."""
    _load("logs")
    line = submit.logs.last_error(s, creds, job, trial_id)  # prefixed with its replica (and trial): chief, ...
    print(f"last error: {line or '(no error line in its log yet)'}", file=sys.stderr)
    print(f"all its lines: ./submit.sh logs {job.name}", file=sys.stderr, flush=True)


def _train(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=True)
    config = trainer_config(trainer_args)
    opts = _job_options(a)
    if a.deploy and a.no_wait:
        raise SubmitError("--deploy needs train to wait for the job; drop --no-wait, or deploy later")
    deploy = _deploy_options(a) if a.deploy else None  # checked now, not after the training
    _load("vertex")
    vertex, creds = submit.vertex, _credentials(opts.dry_run)
    jobs = vertex.client(s, creds)
    name = opts.display_name or f"mnist-{time.strftime('%Y%m%d-%H%M%S')}"
    job = vertex.create(jobs, s, vertex.custom_job(opts, s, trainer_args, name, config.accelerator), opts.dry_run)
    if job is None:
        return 0
    print(
        f"job: {job.name}\nconsole: {vertex.console_url(job.name)}\noutputs: {s.bucket}/{name}\n"
        f"to resume it after a failure or a cancellation: the same command with --display-name {name}",
        flush=True,
    )
    if opts.no_wait:
        return 0
    job = vertex.wait(jobs, job)
    if job.state.name != "JOB_STATE_SUCCEEDED":
        print(f"error: job {job.name} ended {job.state.name}: {' '.join(job.error.message.split())}", file=sys.stderr)
        _print_last_error(s, creds, job)
        return 1
    if deploy:
        _load("serving")
        return submit.serving.deploy(deploy, s, creds, f"{s.bucket}/{name}/model")
    return 0


def _tune(a: argparse.Namespace, trainer_args: list[str]) -> int:
    _load("study", "study_rules")
    tune = TuneOptions(a.config, a.max_trials, a.parallel_trials, a.local, a.container, a.output_dir)
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
    return _tune_on_vertex(a, tuning, trainer_args, config.accelerator)


def _tune_on_vertex(a: argparse.Namespace, tuning, trainer_args: list[str], accelerator: str) -> int:
    s = _settings(a, need_bucket=True)
    given = any(v is not None for v in (a.machine_type, a.accelerator_type, a.accelerator_count))
    opts = _job_options(a, machine_given=given)  # flags over the file
    machine = opts.machine or submit.machines.from_message(tuning.trial_job_spec.worker_pool_specs[0].machine_spec)
    _load("vertex")
    vertex, creds = submit.vertex, _credentials(opts.dry_run)
    jobs = vertex.client(s, creds)
    # A new folder for each sweep: trial N of another sweep must not resume from this one's backups.
    name = opts.display_name or f"{tuning.display_name or 'mnist-tune'}-{time.strftime('%Y%m%d-%H%M%S')}"
    job = vertex.tuning_job(tuning, opts, s, machine, trainer_args, name, accelerator)
    job = vertex.create(jobs, s, job, opts.dry_run)
    if job is None:
        return 0
    print(f"job: {job.name}\nconsole: {vertex.console_url(job.name)}", flush=True)
    job = vertex.wait(jobs, job)
    if job.state.name != "JOB_STATE_SUCCEEDED":
        print(f"error: tuning job ended {job.state.name}: {' '.join(job.error.message.split())}", file=sys.stderr)
    for trial in job.trials:
        if trial.state.name == "INFEASIBLE":  # failed; trials stopped early end SUCCEEDED
            _print_last_error(s, creds, job, trial.id)
    best = vertex.best_trial(job)
    if best is None:
        print("error: no trial reported a metric", file=sys.stderr)
        return 1
    params = {p.parameter_id: str(p.value) for p in best.parameters}
    metric = job.study_spec.metrics[0].metric_id
    print(submit.study.best_line(best.id, metric, best.final_measurement.metrics[0].value, params), flush=True)
    return 0 if job.state.name == "JOB_STATE_SUCCEEDED" else 1


def _local(a: argparse.Namespace, trainer_args: list[str]) -> int:
    config = trainer_config(trainer_args)
    _load("local", "container")
    image = submit.container.image_for(config.accelerator == "tpu") if a.container else None
    output = a.output_dir or Path("runs") / f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    return submit.local.run_local(trainer_args, output, a.replicas, image)


def _build(a: argparse.Namespace, trainer_args: list[str]) -> int:
    if a.local:
        _load("container")
        return submit.container.build_local(a.tpu, a.dry_run)
    _load("build")
    return submit.build.build(_settings(a, need_bucket=False), a.tpu, a.dry_run)


def _deploy(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s, opts = _settings(a, need_bucket=False), _deploy_options(a)
    _load("serving")
    submit.serving.check_model_dir(a.model_dir)
    return submit.serving.deploy(opts, s, _credentials(False), a.model_dir)


def _predict(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("online")
    inputs = submit.online.read_all(a.files)  # every file first: a bad one is one line, and nothing is sent
    return submit.online.predict(s, _credentials(False), a.endpoint, inputs)


def _undeploy(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("serving")
    return submit.serving.undeploy(s, _credentials(False), a.endpoint, a.delete_endpoint)


def _logs(a: argparse.Namespace, trainer_args: list[str]) -> int:
    s = _settings(a, need_bucket=False)
    _load("vertex", "logs")
    creds = _credentials(False)
    return submit.logs.show(s, creds, submit.vertex.client(s, creds), a.job, a.follow, a.poll_seconds)


COMMANDS = {"build": _build, "train": _train, "tune": _tune, "local": _local, "deploy": _deploy,
            "predict": _predict, "undeploy": _undeploy, "logs": _logs}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`./submit.sh COMMAND [flags]`: returns the exit status (2 for a bad setting or an error the cloud
    answered, reported in one line)."""
    a, trainer_args = flags.parser().parse_known_args(argv)
    if a.command in WITHOUT_TRAINER_FLAGS and trainer_args:
        print(f"error: ./submit.sh {a.command}: unknown arguments {' '.join(trainer_args)}", file=sys.stderr)
        return 2
    if a.command in NO_DRY_RUN and a.dry_run:
        print(f"error: --dry-run: ./submit.sh {a.command} has none (its requests depend on each other's answers)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        return COMMANDS[a.command](a, trainer_args)
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except exceptions.GoogleAPICallError as e:  # what the API answered: one line, whichever request it was
        print(f"error: {errors.explain(e, _settings(a, need_bucket=False))}", file=sys.stderr)
        return 2
