"""What several commands share: one-line argparse refusals, whole-number flags, the flag groups (where a job goes,
its machine and limits, its labels, how its model is served), and the options built from them."""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trainer import values
from trainer.submit import scheduling
from trainer.submit.errors import SubmitError
from trainer.submit.machines import Machine, machine_spec
from trainer.submit.options import DeployOptions, JobOptions
from trainer.submit.prebuilt import SERVING_TENSORFLOW
from trainer.submit.settings import ENVIRONMENT, Settings, settings
from trainer.values import shown

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class Parser(argparse.ArgumentParser):
    """argparse's parser whose refusals are one line naming the flag (the usage is a --help away), exit 2. No
    abbreviations: the trainer's own --accelerator must reach it, not be taken for --accelerator-type."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str):  # type: ignore[override]  # argparse's NoReturn: exit() never returns
        self.exit(2, f"error: {self.prog}: {message}\n")


# The largest count the API's own types hold: every count a flag sends is an int32 there (aiplatform_v1's
# accelerator_count, max_trial_count, parallel_trial_count, min_replica_count, max_replica_count), or an int64.
INT32_MAX = 2**31 - 1


def count(least: int, most: int | None = None):
    """An argparse type for a whole number in [least, most]: 0 or -1 replicas is refused, never taken as 1; above
    most (by default the API's int32 limit) refused here, not a protobuf traceback when the request is built."""

    top = INT32_MAX if most is None else most

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least and most is None:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {shown(text)}")
        if not least <= value <= top:
            raise argparse.ArgumentTypeError(f"must be from {least} to {top}, got {shown(text)}")
        return value

    return parse


def folder(text: str) -> Path:
    """An argparse type for a folder here with a default: an empty one would be the current folder, which no one
    means (the trainer's own check)."""
    return Path(values.folder(text))


def given_or(given: str | None, default: str) -> str:
    """The flag's value if it was given, even empty (then refused, not replaced: `--display-name "$UNSET"`)."""
    return default if given is None else given


# fmt: off
def where() -> argparse.ArgumentParser:
    """The settings' flags (project, region, bucket, image) and --dry-run, on every cloud command."""
    common = Parser(add_help=False)
    common.add_argument("--project", help="Google Cloud project (default: $PROJECT_ID)")
    common.add_argument("--region", help="Vertex AI region (default: $REGION, else us-central1)")
    common.add_argument("--bucket", help="gs://BUCKET for job outputs (default: $BUCKET)")
    common.add_argument("--repository", help="Artifact Registry repository (default: $REPOSITORY, else mnist)")
    common.add_argument("--image", help="image name (default: $IMAGE, else mnist-trainer)")
    common.add_argument("--tag", help="image tag (default: $TAG, else each image's source tag, src-<12 hex>)")
    common.add_argument("--image-uri", help="the whole image URI, instead of the four above (default: $IMAGE_URI)")
    common.add_argument("--tpu-image-uri", help="the TPU jobs' whole image URI (default: $TPU_IMAGE_URI, else IMAGE-tpu)")
    common.add_argument("--dry-run", action="store_true", help="print the request (or command) and send nothing")
    return common


def job() -> argparse.ArgumentParser:
    """A job's machine, replicas and limits: train's and each trial's of tune."""
    jobs = Parser(add_help=False)
    jobs.add_argument("--display-name")
    jobs.add_argument("--machine-type", help="e.g. g2-standard-8, a2-highgpu-1g, ct5lp-hightpu-4t, cloud-tpu (default: n1-standard-8; tune: hptuning.yaml's)")
    jobs.add_argument("--accelerator-type", help="default: the machine's own GPU (a2, a3, a4, g2, g4), NVIDIA_TESLA_T4 on n1, none on TPU machines")
    jobs.add_argument("--accelerator-count", type=count(0), help="0 for a CPU-only job (default: the machine's, else 1)")
    jobs.add_argument("--replicas", type=count(1), default=1, help="machines; more than one trains with MultiWorkerMirroredStrategy")
    jobs.add_argument("--service-account", help="default: $SERVICE_ACCOUNT")
    jobs.add_argument("--tensorboard", help="a Vertex AI TensorBoard instance, projects/P/locations/R/tensorboards/ID (default: $TENSORBOARD)")
    jobs.add_argument("--spot", action="store_true", help="run on Spot VMs (cheaper, may be preempted: the trainer resumes)")
    jobs.add_argument("--no-restart-on-worker-restart", dest="restart_on_worker_restart", action="store_false",
                      help="by default a restarted worker restarts the whole job, which then resumes from its backup")
    jobs.add_argument("--api-endpoint", help="Vertex AI API endpoint, e.g. a regional or private one (default: $VERTEX_API_ENDPOINT)")
    jobs.add_argument("--timeout", help=f"the longest a job (each trial of a tuning job) may run, e.g. 90m, 2h, 1d; then Vertex AI stops it (default: hptuning.yaml's trial timeout for tune, else {scheduling.DEFAULT_TIMEOUT}; Vertex AI's own is 7 days)")
    jobs.add_argument("--flex-start", action="store_true", help="wait for GPU capacity with Dynamic Workload Scheduler (L4, A100, H100, H200, B200; not with --spot)")
    jobs.add_argument("--max-wait", help="with --flex-start: how long to wait for the capacity, e.g. 2h; 0 waits indefinitely (default: Vertex AI's, 1 day)")
    return jobs


def labelled() -> argparse.ArgumentParser:
    labels = Parser(add_help=False)
    labels.add_argument("--labels", help=f"k=v,... on every job, model and endpoint this creates, besides {scheduling.TOOL_LABEL[0]}={scheduling.TOOL_LABEL[1]}")
    return labels


def deployment() -> argparse.ArgumentParser:
    """Where and how a model is served: deploy's flags, and train's and tune's for --deploy."""
    serve = Parser(add_help=False)
    serve.add_argument("--model-name", default=os.environ.get("MODEL_NAME", "mnist"), help="the model's display name in the Model Registry; an existing one gets a new version (default: $MODEL_NAME, else mnist)")
    serve.add_argument("--endpoint", help="deploy to this endpoint (ID or resource name) instead of the one named --endpoint-name")
    serve.add_argument("--endpoint-name", help="the endpoint's display name, reused if it exists (default: mnist)")
    serve.add_argument("--serving-machine-type", default="n1-standard-2", help="default: n1-standard-2")
    serve.add_argument("--min-replicas", type=count(1), default=1, help="replicas always running, each billed by the hour (default: 1)")
    serve.add_argument("--max-replicas", type=count(1), default=1, help="autoscaling limit (default: 1)")
    serve.add_argument("--serving-image", help=f"default: this project's own (Dockerfile.serving, $SERVING_IMAGE_URI, else REGION-docker.pkg.dev/PROJECT/REPOSITORY/mnist-serving:TAG); a prebuilt one, e.g. TensorFlow {SERVING_TENSORFLOW}'s, is checked against its end of availability")
    serve.add_argument("--keep-previous", action="store_true", help="keep the versions the new one replaces deployed (with no traffic, still billed)")
    return serve


def api_endpoint(command: argparse.ArgumentParser) -> None:
    """--api-endpoint, last among the flags of a command that reads from Vertex AI without a job's flags."""
    command.add_argument("--api-endpoint", help="Vertex AI API endpoint (default: $VERTEX_API_ENDPOINT)")
# fmt: on


def from_flags(kind: type[T], a: argparse.Namespace, **given: Any) -> T:
    """A frozen options dataclass built by keyword: each field the value given here, else the flag of its name."""
    return kind(**{f.name: given[f.name] if f.name in given else getattr(a, f.name) for f in dataclasses.fields(kind)})


def settings_of(a: argparse.Namespace, need_bucket: bool) -> Settings:
    """Settings from the flags, then the environment; one line (SubmitError) for a missing or bad one."""
    return settings({name: getattr(a, name, None) for name in ENVIRONMENT}, os.environ, need_bucket=need_bucket)


def job_options(
    a: argparse.Namespace, machine: Machine, labels: Mapping[str, str], file_timeout: int | None = None
) -> JobOptions:
    """The job's options on this machine, every limit checked; the timeout is --timeout, else the file's (tune's
    hptuning.yaml), else scheduling.DEFAULT_TIMEOUT."""
    timeout = flag_over_file_timeout(a, file_timeout) or scheduling.seconds("--timeout", scheduling.DEFAULT_TIMEOUT)
    if a.max_wait is not None and not a.flex_start:
        raise SubmitError("--max-wait: only with --flex-start (how long to wait for Dynamic Workload Scheduler)")
    max_wait = None if a.max_wait is None else scheduling.seconds("--max-wait", a.max_wait, zero=True)
    if a.flex_start:
        scheduling.check_flex_start(machine.spec.get("accelerator_type"), machine.spec["machine_type"], a.spot, timeout)
    return from_flags(JobOptions, a, machine=machine, timeout=timeout, labels=labels, max_wait=max_wait)


def flag_over_file_timeout(a: argparse.Namespace, file_timeout: int | None) -> int | None:
    """--timeout in seconds if given, else the file's (hptuning.yaml's trial timeout), else None."""
    return scheduling.seconds("--timeout", a.timeout) if a.timeout is not None else file_timeout


def machine_of(a: argparse.Namespace) -> Machine:
    """--machine-type, --accelerator-type and --accelerator-count, checked against Vertex AI's compute table."""
    return machine_spec(a.machine_type, a.accelerator_type, a.accelerator_count)


def deploy_options(a: argparse.Namespace, labels: Mapping[str, str]) -> DeployOptions:
    """deploy's flags (train's and tune's with --deploy), checked now: before a job is sent, not after it."""
    if a.endpoint is not None and a.endpoint_name is not None:  # was: --endpoint-name quietly unused
        raise SubmitError(f"--endpoint {shown(a.endpoint)} with --endpoint-name {shown(a.endpoint_name)}: each names "
                          "the endpoint to deploy to; drop one")  # fmt: skip
    endpoint_name = "mnist" if a.endpoint_name is None else a.endpoint_name
    return from_flags(DeployOptions, a, machine_type=a.serving_machine_type, labels=labels, endpoint_name=endpoint_name)


def deploy_if_asked(a: argparse.Namespace, labels: Mapping[str, str]) -> DeployOptions | None:
    """train's and tune's --deploy options, or None without --deploy; a deploy flag given without it is refused
    (was: quietly unused, so `train --endpoint 123` trained and deployed nothing)."""
    if a.deploy:
        return deploy_options(a, labels)
    given = flags_given(a, deployment())
    if given:
        raise SubmitError(f"{' '.join(given)}: only with --deploy (./submit.sh {a.command} deploys nothing without it)")
    return None


def flags_given(a: argparse.Namespace, *parsers: argparse.ArgumentParser, but: tuple[str, ...] = ()) -> list[str]:
    """The flags of these parsers that this command line set to other than their defaults, as `--flag value`: what
    a command that does not use them must refuse rather than ignore."""
    actions = [action for p in parsers for action in p._actions if action.option_strings and action.dest not in but]
    return [action.option_strings[0] + ("" if action.nargs == 0 else f" {shown(str(getattr(a, action.dest)))}")
            for action in actions if getattr(a, action.dest, action.default) != action.default]  # fmt: skip


def timestamped(name: str) -> str:
    """NAME-YYYYmmdd-HHMMSS: a new name (so a new output folder) for each run."""
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
