"""`setup` and `doctor`: a project made ready for the first job in one idempotent command, and a read-only check
of everything a job needs, one line each, with its fix."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from trainer.submit.commands.shared import api_endpoint, job, settings_of, where
from trainer.submit.errors import SubmitError
from trainer.submit.machines import Machine
from trainer.submit.settings import Settings


@dataclass(frozen=True)
class SetupOptions:
    settings: Settings
    dry_run: bool


@dataclass(frozen=True)
class DoctorOptions:
    settings: Settings
    images: tuple[str, ...]
    data_dir: str
    machine: Machine
    replicas: int
    preemptible: bool


# fmt: off
def add_setup(sub: argparse._SubParsersAction) -> None:
    setup = sub.add_parser("setup", parents=[where()], help="make the project ready: services, repository, bucket, MNIST (idempotent)")
    api_endpoint(setup)
    setup.set_defaults(options=setup_options, run=run_setup, has_dry_run=True, takes_trainer_flags=False)


def add_doctor(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", parents=[where(), job()], help="check, read-only, all a job needs; each failure with its fix")
    doctor.set_defaults(options=doctor_options, run=run_doctor, has_dry_run=False, takes_trainer_flags=True)
# fmt: on


def setup_options(a: argparse.Namespace, trainer_args: list[str]) -> SetupOptions:
    return SetupOptions(settings=settings_of(a, need_bucket=True), dry_run=a.dry_run)


def run_setup(o: SetupOptions) -> int:
    """Each step of provision.STEPS, one line each; --dry-run lists them and calls nothing."""
    from trainer.submit import provision

    if o.dry_run:
        for line in provision.plan(o.settings):
            print(f"would {line}")
        return 0
    from trainer.submit import credentials

    creds = credentials.load()
    for step in provision.STEPS:
        step(o.settings, creds)
    print("next: ./submit.sh doctor, then ./submit.sh build", flush=True)
    return 0


def doctor_options(a: argparse.Namespace, trainer_args: list[str]) -> DoctorOptions:
    """The job's settings and machine as train would take them; its data the trainer's --data-dir, else
    BUCKET/mnist (where setup copies MNIST)."""
    from trainer.submit.commands.jobs import checked_job, image_kind

    s = settings_of(a, need_bucket=True)
    config, opts, _ = checked_job(a, trainer_args, s, {})  # train's own refusals of these flags, none ignored
    given = any(arg == "--data-dir" or arg.startswith("--data-dir=") for arg in trainer_args)
    data_dir = config.data_dir if given else f"{s.bucket}/mnist"
    return DoctorOptions(settings=s, images=(image_kind(opts.machine), "serving"), data_dir=data_dir,
                         machine=opts.machine, replicas=opts.replicas, preemptible=opts.spot or opts.flex_start)  # fmt: skip


def whose(credentials) -> str:
    """Whose the credentials are: a service account's email, else the user's account as gcloud stored it."""
    email = getattr(credentials, "service_account_email", None) or getattr(credentials, "account", None)
    kind = "service account" if getattr(credentials, "service_account_email", None) else "user"
    return f"{kind} {email}" if email else "user credentials (gcloud auth application-default login)"


def run_doctor(o: DoctorOptions) -> int:
    """One line per check; exit 0 only if every one passed (or was skipped, saying why), else 2."""
    from trainer.submit import checks, credentials, quotas

    try:
        creds = credentials.load()
    except SubmitError as e:
        print(checks.Check(checks.FAILED, "credentials", str(e)).line(), flush=True)
        return 2
    print(checks.Check(checks.PASSED, "credentials", whose(creds)).line(), flush=True)
    need = quotas.need(o.machine, o.replicas, o.preemptible)
    job = checks.Job(images=o.images, data_dir=o.data_dir, need=need, service_account=o.settings.service_account)
    results = checks.run(o.settings, creds, job)
    for check in results:
        print(check.line(), flush=True)
    failed = [c for c in results if c.state in (checks.FAILED, checks.UNKNOWN)]
    print(f"doctor: {len(failed)} of {len(results) + 1} checks did not pass" if failed else "doctor: ready for a job")
    return 2 if failed else 0
