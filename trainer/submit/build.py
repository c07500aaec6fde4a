"""Building the images with Cloud Build (`gcloud builds submit`, cloudbuild.yaml), named from the same settings the
job commands use and tagged by their source (trainer/submit/source.py): an image already built from this source is
not built again."""

from __future__ import annotations

import shutil
import subprocess

from trainer.submit import registry
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings


def command(s: Settings, tpu: bool) -> list[str]:
    """gcloud builds submit of the training (or TPU) image and the serving image, each with its tag."""
    training, serving = s.image_uri("tpu" if tpu else "training"), s.image_uri("serving")
    parts = registry.DOCKER_IMAGE.fullmatch(training)
    if not parts or not registry.DOCKER_IMAGE.fullmatch(serving):
        raise SubmitError(
            f"image {training}: not an Artifact Registry image, REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG"
        )
    substitutions = (
        f"_REGION={parts['location']},_REPOSITORY={parts['repository']},_IMAGE={parts['image']},_TAG={parts['tag']},"
        f"_SERVING_TAG={serving.rsplit(':', 1)[1]}" + (",_DOCKERFILE=Dockerfile.tpu" if tpu else "")
    )
    return ["gcloud", "builds", "submit", "--project", parts["project"], "--region", parts["location"],
            "--config", "cloudbuild.yaml", f"--substitutions={substitutions}", "."]  # fmt: skip


def build(s: Settings, tpu: bool, dry_run: bool, force: bool = False) -> int:
    """`./submit.sh build [--tpu] [--force]`: prints the command, then runs it unless --dry-run, or unless both
    images of this source are in the registry already (--force builds them anyway). Returns the exit status."""
    run = command(s, tpu)
    kind = "tpu" if tpu else "training"
    if not dry_run and not force and s.from_source(kind) and s.from_source("serving"):
        from trainer.submit import credentials

        client = registry.client(s, credentials.load())
        images = [s.image_uri(kind), s.image_uri("serving")]
        if all(registry.digest(client, image) for image in images):
            print(f"already built from this source: {' and '.join(images)}; nothing to build (--force builds anyway)")
            return 0
    print(" ".join(run), flush=True)
    if dry_run:
        return 0
    if not shutil.which("gcloud"):
        raise SubmitError("gcloud not found: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)")
    return subprocess.call(run)
