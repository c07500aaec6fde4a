"""`deploy`, `predict`, `undeploy` and `batch-predict`: a trained model served from an endpoint, asked for digits,
taken down; or files of images scored by a batch prediction job without an endpoint."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from trainer.submit import names, scheduling
from trainer.submit.commands.shared import (
    api_endpoint,
    count,
    deploy_options,
    deployment,
    from_flags,
    given_or,
    labelled,
    settings_of,
    timestamped,
    where,
)
from trainer.submit.errors import SubmitError
from trainer.submit.options import BatchOptions, DeployOptions
from trainer.submit.settings import Settings
from trainer.values import shown

NO_DRY_RUN = {"has_dry_run": False, "takes_trainer_flags": False}  # each request depends on the answer before it


@dataclass(frozen=True)
class Deploy:
    settings: Settings
    deploy: DeployOptions
    model_dir: str


@dataclass(frozen=True)
class OnEndpoint:
    """predict (files to send) or undeploy (and maybe delete the endpoint)."""

    settings: Settings
    endpoint: str
    files: tuple[str, ...] = ()
    delete_endpoint: bool = False

    def __post_init__(self) -> None:
        """An endpoint that is neither an ID nor a resource name: one line before credentials are looked for."""
        names.resource("--endpoint", self.endpoint, ["endpoints"])


@dataclass(frozen=True)
class BatchPredict:
    settings: Settings
    batch: BatchOptions


def _endpoint_command(sub: argparse._SubParsersAction, name: str, parents: list, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, parents=[where(), *parents], help=help)


def _done(command: argparse.ArgumentParser, options, run) -> None:
    """--api-endpoint last; then what cli calls: options(namespace, trainer_args), then run(options)."""
    api_endpoint(command)
    command.set_defaults(options=options, run=run, **NO_DRY_RUN)


# fmt: off
def add_deploy(sub: argparse._SubParsersAction) -> None:
    deploy = _endpoint_command(sub, "deploy", [deployment(), labelled()], "upload a model to the Model Registry and deploy it to an endpoint")
    deploy.add_argument("--model-dir", required=True, help="the exported model, gs://BUCKET/DISPLAY_NAME/model")
    _done(deploy, deploy_command, run_deploy)


def add_predict(sub: argparse._SubParsersAction) -> None:
    predict = _endpoint_command(sub, "predict", [], "digits from a deployed endpoint, one line per image")
    predict.add_argument("--endpoint", required=True, help="the endpoint's ID or resource name")
    predict.add_argument("files", nargs="+", help="PNG, IDX (*idx3-ubyte[.gz]) or JSON lines of {\"image\": 28x28}")
    _done(predict, predict_command, run_predict)


def add_undeploy(sub: argparse._SubParsersAction) -> None:
    undeploy = _endpoint_command(sub, "undeploy", [], "undeploy every model from an endpoint (an idle endpoint is billed)")
    undeploy.add_argument("--endpoint", required=True, help="the endpoint's ID or resource name")
    undeploy.add_argument("--delete-endpoint", action="store_true", help="then delete the endpoint itself")
    _done(undeploy, undeploy_command, run_undeploy)


def add_batch_predict(sub: argparse._SubParsersAction) -> None:
    batch = _endpoint_command(sub, "batch-predict", [labelled()], "digits for files of images with a BatchPredictionJob (no endpoint)")
    which = batch.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-dir", help="an exported model in Cloud Storage, gs://BUCKET/JOB/model: uploaded first, as deploy does")
    which.add_argument("--model", help="a model in the Model Registry, NAME or NAME@VERSION")
    batch.add_argument("--input", action="append", required=True, help="gs:// PNG, IDX (*idx3-ubyte[.gz]) or JSON-lines file, or a gs://.../ folder of them; repeat for more")
    batch.add_argument("--output", required=True, help="gs://BUCKET/PATH for the instances and Vertex AI's results")
    batch.add_argument("--model-name", help="with --model-dir: its name in the Model Registry (default: $MODEL_NAME, else mnist)")
    batch.add_argument("--serving-image", help="with --model-dir: as deploy's (default: this project's own)")
    batch.add_argument("--machine-type", default="n1-standard-2", help="default: %(default)s")
    batch.add_argument("--replicas", type=count(1), default=1, help="at most this many machines (default: %(default)s)")
    batch.add_argument("--display-name", help="default: mnist-batch-TIMESTAMP")
    _done(batch, batch_command, run_batch_predict)
# fmt: on


def deploy_command(a: argparse.Namespace, trainer_args: list[str]) -> Deploy:
    from trainer.submit.serving import check_in_cloud_storage

    s, opts = settings_of(a, need_bucket=False), deploy_options(a, scheduling.labels(a.labels))
    check_in_cloud_storage(a.model_dir)
    return Deploy(settings=s, deploy=opts, model_dir=a.model_dir)


def run_deploy(o: Deploy) -> int:
    from trainer.submit import credentials, registry, serving

    creds = credentials.load()
    s = registry.pinned(o.settings, creds, ["serving"] if o.deploy.serving_image is None else [])
    return serving.deploy(o.deploy, s, creds, o.model_dir)


def predict_command(a: argparse.Namespace, trainer_args: list[str]) -> OnEndpoint:
    return OnEndpoint(settings=settings_of(a, need_bucket=False), endpoint=a.endpoint, files=tuple(a.files))


def run_predict(o: OnEndpoint) -> int:
    from trainer.submit import credentials, online

    inputs = online.read_all(list(o.files))  # every file first: a bad one is one line, and nothing is sent
    return online.predict(o.settings, credentials.load(), o.endpoint, inputs)


def undeploy_command(a: argparse.Namespace, trainer_args: list[str]) -> OnEndpoint:
    s = settings_of(a, need_bucket=False)
    return OnEndpoint(settings=s, endpoint=a.endpoint, delete_endpoint=a.delete_endpoint)


def run_undeploy(o: OnEndpoint) -> int:
    from trainer.submit import credentials, serving

    return serving.undeploy(o.settings, credentials.load(), o.endpoint, o.delete_endpoint)


def batch_command(a: argparse.Namespace, trainer_args: list[str]) -> BatchPredict:
    upload_only = [f"{flag} {shown(value)}" for flag, value in (("--model-name", a.model_name),
                                                                ("--serving-image", a.serving_image)) if value is not None]  # fmt: skip
    if a.model is not None and upload_only:  # was: quietly unused
        raise SubmitError(f"{' and '.join(upload_only)}: only with --model-dir, whose model is uploaded first; "
                          f"--model {shown(a.model)} is in the Model Registry with its own name and image")  # fmt: skip
    s = settings_of(a, need_bucket=False)
    model_name = os.environ.get("MODEL_NAME", "mnist") if a.model_name is None else a.model_name
    batch = from_flags(BatchOptions, a, display_name=given_or(a.display_name, timestamped("mnist-batch")),
                       inputs=tuple(a.input), labels=scheduling.labels(a.labels), model_name=model_name)  # fmt: skip
    return BatchPredict(settings=s, batch=batch)


def run_batch_predict(o: BatchPredict) -> int:
    from trainer.submit import batch, credentials, registry

    creds = credentials.load()
    own_image = o.batch.model_dir is not None and o.batch.serving_image is None
    s = registry.pinned(o.settings, creds, ["serving"] if own_image else [])
    return batch.run(o.batch, s, creds)
