"""`local` and `serve --local`: a job, or the serving image, on this machine as Vertex AI would run it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from trainer.submit.commands.shared import count, folder, timestamped
from trainer.submit.machines import check_replicas
from trainer.submit.settings import trainer_config
from trainer.values import shown

LOCAL_REPLICAS = 8  # `local --replicas`: each one a TensorFlow process of about 1 GB on this machine


@dataclass(frozen=True)
class LocalJob:
    trainer_args: tuple[str, ...]
    output: Path
    replicas: int
    image: str | None  # --container: the image built by build --local


@dataclass(frozen=True)
class LocalServer:
    model_dir: Path
    port: int
    image: str


def local_model(text: str) -> Path:
    """serve --local's --model-dir (required, so no default to fall back to): a folder on this machine, which podman
    mounts; not blank, not gs://."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a folder; pass the exported model's (JOB_DIR/model)")
    if text.startswith("gs://"):
        raise argparse.ArgumentTypeError(f"{shown(text)}: serve --local mounts a folder on this machine; copy the "
                                         f"model here first (gcloud storage cp -r {shown(text)} .)")  # fmt: skip
    return Path(text)


# fmt: off
def add_serve(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the serving image here (podman) as Vertex AI runs it on an endpoint")
    serve.add_argument("--local", action="store_true", required=True, help="here, in the image built by build --local --serving")
    serve.add_argument("--model-dir", type=local_model, required=True, help="an exported model folder, e.g. runs/batchnorm/model")
    serve.add_argument("--port", type=count(1, 65535), default=8080, help="the port it listens on, AIP_HTTP_PORT (default: %(default)s)")
    serve.set_defaults(options=server, run=run_server, has_dry_run=False, takes_trainer_flags=False)


def add_local(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="run the job on this machine the way Vertex AI would")
    local.add_argument("--output-dir", type=folder, help="default: runs/local-TIMESTAMP")
    local.add_argument("--replicas", type=count(1, LOCAL_REPLICAS), default=1, help=f"processes: a chief and workers, as a job's replicas (default: 1, at most {LOCAL_REPLICAS})")
    local.add_argument("--container", action="store_true", help="run each replica in the image built by build --local (podman)")
    local.set_defaults(options=local_job, run=run_local_job, has_dry_run=False, takes_trainer_flags=True)
# fmt: on


def local_job(a: argparse.Namespace, trainer_args: list[str]) -> LocalJob:
    """The trainer's flags checked as it will parse them, and the image if --container (it must exist)."""
    from trainer.submit import container

    config = trainer_config(trainer_args)
    check_replicas(config.distribute, a.replicas)
    image = container.image_for(config.accelerator == "tpu") if a.container else None
    output = a.output_dir or Path("runs") / timestamped("local")
    return LocalJob(trainer_args=tuple(trainer_args), output=output, replicas=a.replicas, image=image)


def run_local_job(o: LocalJob) -> int:
    from trainer.submit import local

    return local.run_local(list(o.trainer_args), o.output, o.replicas, o.image)


def server(a: argparse.Namespace, trainer_args: list[str]) -> LocalServer:
    """A folder the server can load, and the serving image built here: both checked before podman runs anything."""
    from trainer.submit import container, serve_local

    serve_local.check_saved_model(a.model_dir)
    return LocalServer(model_dir=a.model_dir, port=a.port, image=container.image_for(serving=True))


def run_server(o: LocalServer) -> int:
    from trainer.submit import serve_local

    return serve_local.serve(o.model_dir, o.port, o.image)
