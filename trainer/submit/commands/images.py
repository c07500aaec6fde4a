"""`build`: the training and serving images, with Cloud Build into Artifact Registry, or here with podman."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from trainer.submit.commands.shared import flags_given, settings_of, where
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings


@dataclass(frozen=True)
class Build:
    settings: Settings | None  # None: --local, which needs no project
    tpu: bool
    serving: bool
    dry_run: bool
    force: bool


# fmt: off
def add_build(sub: argparse._SubParsersAction) -> None:
    build = sub.add_parser("build", parents=[where()], help="build the training and serving images with Cloud Build and push them to Artifact Registry")
    build.add_argument("--tpu", action="store_true", help="the TPU image (Dockerfile.tpu, IMAGE-tpu) instead of the CPU/GPU one")
    build.add_argument("--local", action="store_true", help="build it here with podman, on a stand-in base, for local --container")
    build.add_argument("--serving", action="store_true", help="with --local: the serving image (Dockerfile.serving), for serve --local; ./submit.sh build builds it too")
    build.add_argument("--force", action="store_true", help="build even when the images of this source (tag src-<12 hex>) exist already")
    build.set_defaults(options=build_options, run=run_build, has_dry_run=True, takes_trainer_flags=False)
# fmt: on


def build_options(a: argparse.Namespace, trainer_args: list[str]) -> Build:
    if a.serving and not a.local:
        raise SubmitError("--serving: only with --local; ./submit.sh build builds the serving image too")
    settings_given = flags_given(a, where(), but=("dry_run",))
    if a.local and settings_given:  # was: quietly unused
        raise SubmitError(f"{' '.join(settings_given)}: only for Cloud Build; build --local builds here with podman "
                          "(localhost/mnist-trainer, -trainer-tpu and -serving)")  # fmt: skip
    s = None if a.local else settings_of(a, need_bucket=False)
    return Build(settings=s, tpu=a.tpu, serving=a.serving, dry_run=a.dry_run, force=a.force)


def run_build(o: Build) -> int:
    """podman here without settings; else Cloud Build for the image the settings name."""
    if o.settings is None:
        from trainer.submit import container

        return container.build_local(o.tpu, o.dry_run, o.serving, o.force)
    from trainer.submit import build

    return build.build(o.settings, o.tpu, o.dry_run, o.force)
