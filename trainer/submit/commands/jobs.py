"""`train` and `tune`: a CustomJob, or a HyperparameterTuningJob from hptuning.yaml (on Vertex AI, or here with
Optuna), each checked whole before it is sent, and with --deploy, its model served when it succeeds."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.submit import names, scheduling
from trainer.submit.commands.shared import (
    count,
    deploy_if_asked,
    deployment,
    flag_over_file_timeout,
    flags_given,
    folder,
    given_or,
    job,
    job_options,
    labelled,
    machine_of,
    settings_of,
    timestamped,
    where,
)
from trainer.submit.errors import SubmitError
from trainer.submit.machines import Machine, check_strategy, from_message
from trainer.submit.options import DeployOptions, JobOptions
from trainer.submit.settings import Settings, check_cloud_paths, trainer_config

if TYPE_CHECKING:
    from google.cloud import aiplatform_v1

    from trainer.config import Config


@dataclass(frozen=True)
class CloudJob:
    """A training or tuning job to send (or, on a dry run, to print), and what follows its success."""

    settings: Settings
    job: JobOptions
    name: str
    trainer_args: tuple[str, ...]
    accelerator: str  # the trainer's --accelerator as parsed: "auto" gets the machine's
    data_dir: str  # the trainer's --data-dir as parsed: checked before sending when on gs://
    dry_run: bool
    deploy: DeployOptions | None
    no_wait: bool = False
    tuning: aiplatform_v1.HyperparameterTuningJob | None = None  # hptuning.yaml's, with the flags applied; None: train


@dataclass(frozen=True)
class LocalSweep:
    """`tune --local`: the study run here, each trial a process (or a container of image)."""

    tuning: aiplatform_v1.HyperparameterTuningJob
    trainer_args: tuple[str, ...]
    output: Path
    image: str | None
    trial_timeout: int | None = None  # seconds: each trial is stopped past it, as Vertex AI stops a trial's job


# fmt: off
def add_train(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", parents=[where(), job(), deployment(), labelled()], help="run a CustomJob")
    train.add_argument("--no-wait", action="store_true", help="return once the job is created")
    train.add_argument("--deploy", action="store_true", help="when the job succeeds, deploy its model (see deploy --help)")
    train.set_defaults(options=train_options, run=send, has_dry_run=True, takes_trainer_flags=True)


def add_tune(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser("tune", parents=[where(), job(), deployment(), labelled()], help="run a HyperparameterTuningJob from hptuning.yaml")
    tune.add_argument("--deploy", action="store_true", help="when the sweep ends, deploy the best trial's model (see deploy --help)")
    tune.add_argument("--config", type=Path, default=Path("hptuning.yaml"))
    tune.add_argument("--max-trials", type=count(1), help="default: the file's maxTrialCount, else 20")
    tune.add_argument("--parallel-trials", type=count(1), help="default: the file's parallelTrialCount, else 5")
    tune.add_argument("--local", action="store_true", help="run the study on this machine with Optuna, --parallel-trials at a time")
    tune.add_argument("--container", action="store_true", help="with --local: run each trial in the image built by build --local")
    tune.add_argument("--output-dir", type=folder, help="with --local: the study's folder; the same one again continues it (default: runs/DISPLAY_NAME)")
    tune.set_defaults(options=tune_options, run=run_tune, has_dry_run=True, takes_trainer_flags=True)
# fmt: on


def train_options(a: argparse.Namespace, trainer_args: list[str]) -> CloudJob:
    """The CustomJob's settings, machine, limits and labels, the trainer's flags as it will parse them, and
    --deploy's options: all checked before anything is sent."""
    s = settings_of(a, need_bucket=True)
    labels = scheduling.labels(a.labels)
    config, opts, name = checked_job(a, trainer_args, s, labels)
    if a.deploy and a.no_wait:
        raise SubmitError("--deploy needs train to wait for the job; drop --no-wait, or deploy later")
    deploy = deploy_if_asked(a, labels)  # checked now, not after the training
    return CloudJob(settings=s, job=opts, name=name, trainer_args=tuple(trainer_args), accelerator=config.accelerator,
                    data_dir=config.data_dir, dry_run=a.dry_run, deploy=deploy, no_wait=a.no_wait)  # fmt: skip


def checked_job(
    a: argparse.Namespace, trainer_args: list[str], s: Settings, labels: dict[str, str]
) -> tuple[Config, JobOptions, str]:
    """A CustomJob's parts, each checked as train sends them (doctor checks the same): the trainer's flags as it
    will parse them, its folders in Cloud Storage, the machine and limits, the strategy on that machine, the name."""
    config = trainer_config(trainer_args)
    check_cloud_paths(config)
    machine = machine_of(a)
    opts = job_options(a, machine, {**labels, **source_label(s, machine)})
    check_strategy(config.distribute, config.accelerator, machine, opts.replicas)
    name = names.display_name("--display-name", given_or(a.display_name, timestamped("mnist")), folder=True)
    return config, opts, name


def tune_options(a: argparse.Namespace, trainer_args: list[str]) -> CloudJob | LocalSweep:
    """hptuning.yaml with the flags over it (as gcloud's --config), checked against Vertex AI's rules and every
    value a trial can get; then the sweep here, or the job for Vertex AI."""
    from trainer.submit import study, study_rules  # YAML and the aiplatform_v1 types: only tune needs them

    if a.deploy and a.local:
        raise SubmitError("--deploy with --local: the trials' models are on this machine; copy the best one to "
                          "gs:// (gcloud storage cp -r DIR gs://BUCKET/PATH) and run ./submit.sh deploy")  # fmt: skip
    if a.dry_run and a.local:
        raise SubmitError(
            "--dry-run with --local: a local sweep sends nothing; tune --dry-run shows the cloud's request"
        )
    cloud_only = flags_given(a, where(), job(), labelled(), but=("dry_run", "timeout"))  # --timeout: each trial's
    if a.local and cloud_only:
        raise SubmitError(f"{' '.join(cloud_only)}: only for a tuning job in the cloud; tune --local runs the study's "
                          "trials here (its folder: --output-dir)")  # fmt: skip
    if not a.local and (a.container or a.output_dir is not None):
        raise SubmitError(f"--{'container' if a.container else 'output-dir'}: only with --local (a tuning job in the "
                          "cloud runs Vertex AI's trials in the pushed image and writes to BUCKET/DISPLAY_NAME)")  # fmt: skip
    labels = scheduling.labels(a.labels)
    deploy = deploy_if_asked(a, labels)  # checked now, not after the sweep
    tuning = study.load_config(a.config)
    command_line = trainer_args
    trial_args = [*tuning.trial_job_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
    config = trainer_config(trial_args)
    # Before anything is sent or run: the metric the trials report, Vertex AI's rules, every value a trial can get.
    trainer_args = [*trainer_args, *study_rules.metric_flag(tuning, trial_args, str(a.config))]
    study_rules.check(tuning, trial_args, str(a.config))
    tuning.max_trial_count = a.max_trials or tuning.max_trial_count or 20
    tuning.parallel_trial_count = min(a.parallel_trials or tuning.parallel_trial_count or 5, tuning.max_trial_count)
    file_timeout = _file_timeout(tuning.trial_job_spec, str(a.config))
    if a.local:  # the same folder again continues the study (its study.db)
        study_rules.check_local(tuning.study_spec, str(a.config))
        from trainer.submit import container

        output = a.output_dir or Path("runs") / (tuning.display_name or "mnist-tune")
        image = container.image_for(config.accelerator == "tpu") if a.container else None
        return LocalSweep(tuning=tuning, trainer_args=tuple(trainer_args), output=output, image=image,
                          trial_timeout=flag_over_file_timeout(a, file_timeout))  # fmt: skip
    check_cloud_paths(config)
    s = settings_of(a, need_bucket=True)
    given = any(v is not None for v in (a.machine_type, a.accelerator_type, a.accelerator_count))
    machine = (
        machine_of(a)
        if given
        else from_message(
            tuning.trial_job_spec.worker_pool_specs[0].machine_spec,
            f"{a.config}: trialJobSpec.workerPoolSpecs[0].machineSpec",
        )
    )
    s = _below_the_flags(tuning.trial_job_spec, s, str(a.config))
    opts = job_options(a, machine, {**labels, **source_label(s, machine)}, file_timeout)  # the flags over the file
    try:
        check_strategy(config.distribute, config.accelerator, machine, opts.replicas)
    except SubmitError as e:  # the trainer flag may be the study file's: then the line says where it is
        typed = any(arg.startswith(("--distribute", "--accelerator")) for arg in command_line)
        if typed:
            raise
        raise SubmitError(f"{a.config}: trialJobSpec.workerPoolSpecs[0].containerSpec.args: {e}") from None
    # A new folder for each sweep: trial N of another sweep must not resume from this one's backups.
    named_by = "--display-name" if a.display_name is not None else f"{a.config}: displayName (with a timestamp)"
    name = names.display_name(
        named_by, given_or(a.display_name, timestamped(tuning.display_name or "mnist-tune")), folder=True
    )
    return CloudJob(settings=s, job=opts, name=name, trainer_args=tuple(trainer_args), accelerator=config.accelerator,
                    data_dir=config.data_dir, dry_run=a.dry_run, deploy=deploy, tuning=tuning)  # fmt: skip


def _below_the_flags(spec, s: Settings, where: str) -> Settings:
    """The file's trial service account, unless --service-account or SERVICE_ACCOUNT: as gcloud's --config, the
    flags over the file."""
    if spec.service_account and not s.service_account:
        account = names.service_account(f"{where}: trialJobSpec.serviceAccount", spec.service_account)
        s = dataclasses.replace(s, service_account=account)
    return s


def _file_timeout(spec, where: str) -> int | None:
    """The file's trial timeout in seconds, None if it has none (--timeout wins over it, in the cloud and here)."""
    seconds = spec.scheduling.timeout.total_seconds() if "timeout" in spec.scheduling else 0
    return scheduling.seconds(f"{where}: trialJobSpec.scheduling.timeout", f"{seconds:.12g}s") if seconds else None


def image_kind(machine: Machine) -> str:
    """The image a job on this machine runs: the TPU one (Dockerfile.tpu) on a TPU, else the training one."""
    return "tpu" if machine.accelerator == "tpu" else "training"


def source_label(s: Settings, machine: Machine) -> dict[str, str]:
    """source=<12 hex> on a job whose image is addressed by this source: which code a job ran, in `list`."""
    kind = image_kind(machine)
    return {"source": s.image_uri(kind).rsplit(":src-", 1)[1]} if s.from_source(kind) else {}


def run_tune(options: CloudJob | LocalSweep) -> int:
    """`./submit.sh tune`: the sweep here, or the job sent to Vertex AI."""
    if isinstance(options, CloudJob):
        return send(options)
    from trainer.submit.sweep import Sweep

    tuning = options.tuning
    sweep = Sweep(tuning.study_spec, tuning.trial_job_spec, list(options.trainer_args), options.output, options.image,
                  trial_timeout=options.trial_timeout)  # fmt: skip
    return sweep.run(tuning.max_trial_count, tuning.parallel_trial_count)


def send(o: CloudJob) -> int:
    """A dry run prints the job's request; else the steps of trainer.submit.steps, with --deploy's as the last."""
    from trainer.submit import vertex

    if o.dry_run:  # offline: the image by its source tag, the digest it would be sent with unread
        return vertex.print_request(o.settings, _request(o, o.settings))
    from trainer.submit import checks, credentials, quotas, registry, steps  # steps: Cloud Logging

    creds = credentials.load()
    serving = ["serving"] if o.deploy and o.deploy.serving_image is None else []
    s = registry.pinned(o.settings, creds, [image_kind(o.job.machine), *serving])
    at_once = o.tuning.parallel_trial_count if o.tuning else 1
    need = quotas.need(o.job.machine, o.job.replicas, o.job.spot or o.job.flex_start, at_once)
    checks.before_sending(s, creds, o.data_dir, need)
    request = _request(o, s)
    then = None
    if o.deploy:
        from trainer.submit import serving as deploying  # the aiplatform SDK: only for --deploy

        deploy = o.deploy
        then = lambda model_dir: deploying.deploy(deploy, s, creds, model_dir)  # noqa: E731
    jobs = vertex.client(s, creds)
    if o.tuning is None:
        return steps.train(jobs, s, creds, request, o.no_wait, then)
    return steps.tune(jobs, s, creds, request, then)


def _request(o: CloudJob, s: Settings) -> Any:
    """The CustomJob or HyperparameterTuningJob to create, with the images of these settings."""
    from trainer.submit import vertex

    if o.tuning is None:
        return vertex.custom_job(o.job, s, list(o.trainer_args), o.name, o.accelerator)
    return vertex.tuning_job(o.tuning, o.job, s, list(o.trainer_args), o.name, o.accelerator)
