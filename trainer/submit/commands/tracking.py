"""`status`, `list`, `cancel` and `logs`: the way back to jobs already sent, and to the endpoints still billed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from trainer.submit import names
from trainer.submit.commands.shared import api_endpoint, settings_of, where
from trainer.submit.settings import Settings

NO_DRY_RUN = {"has_dry_run": False, "takes_trainer_flags": False}  # these only read, or cancel what exists


@dataclass(frozen=True)
class Tracking:
    settings: Settings
    job: str | None  # its ID or resource name; None for list
    everything: bool = False  # list --all
    follow: bool = False  # logs --follow

    def __post_init__(self) -> None:
        """A job that is neither an ID nor a resource name: one line before credentials are even looked for."""
        if self.job is not None:
            names.resource("job", self.job, names.JOB_COLLECTIONS)


def _command(sub: argparse._SubParsersAction, name: str, help: str, run, job: bool = True, switch=None) -> None:
    """A command on one job (or, without job, on them all), with an optional on/off switch, then --api-endpoint."""
    command = sub.add_parser(name, parents=[where()], help=help)
    if job:
        command.add_argument("job", help="the job's ID or resource name")
    if switch:
        command.add_argument(switch[0], action="store_true", help=switch[1])
    api_endpoint(command)
    command.set_defaults(options=tracking, run=run, **NO_DRY_RUN)


# fmt: off
def add_logs(sub: argparse._SubParsersAction) -> None:
    _command(sub, "logs", "a training or tuning job's log lines from Cloud Logging", run_logs,
             switch=("--follow", "keep printing new lines until the job ends"))


def add_status(sub: argparse._SubParsersAction) -> None:
    _command(sub, "status", "a training, tuning or batch prediction job's state, times and machine; a tuning job's trials", run_status)


def add_list(sub: argparse._SubParsersAction) -> None:
    _command(sub, "list", "this tool's jobs, newest first, and its endpoints with deployed models", run_list, job=False,
             switch=("--all", "everything in the project and region, not only what this tool created"))


def add_cancel(sub: argparse._SubParsersAction) -> None:
    _command(sub, "cancel", "cancel a training, tuning or batch prediction job and wait until it is cancelled", run_cancel)
# fmt: on


def tracking(a: argparse.Namespace, trainer_args: list[str]) -> Tracking:
    return Tracking(settings=settings_of(a, need_bucket=False), job=getattr(a, "job", None),
                    everything=getattr(a, "all", False), follow=getattr(a, "follow", False))  # fmt: skip


def _job(o: Tracking) -> str:
    assert o.job is not None, "status, cancel and logs take a job"
    return o.job


def run_logs(o: Tracking) -> int:
    from trainer.submit import credentials, logs, vertex

    creds = credentials.load()
    return logs.show(o.settings, creds, vertex.client(o.settings, creds), _job(o), o.follow)


def run_status(o: Tracking) -> int:
    from trainer.submit import credentials, lifecycle, vertex

    return lifecycle.status(vertex.client(o.settings, credentials.load()), o.settings, _job(o))


def run_cancel(o: Tracking) -> int:
    from trainer.submit import credentials, lifecycle, vertex

    return lifecycle.cancel(vertex.client(o.settings, credentials.load()), o.settings, _job(o))


def run_list(o: Tracking) -> int:
    from google.cloud import aiplatform_v1

    from trainer.submit import credentials, lifecycle, vertex

    creds = credentials.load()
    endpoints = vertex.client(o.settings, creds, aiplatform_v1.EndpointServiceClient)
    return lifecycle.list_all(vertex.client(o.settings, creds), endpoints, o.settings, o.everything)
