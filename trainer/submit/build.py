"""Building the image with Cloud Build, named from the same settings the job commands use."""

from __future__ import annotations

import re
import shutil
import subprocess

from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings


def build(s: Settings, tpu: bool, dry_run: bool) -> int:
    """`./submit.sh build [--tpu]`: gcloud builds submit with cloudbuild.yaml; prints the command first (and only,
    with --dry-run). --tpu builds Dockerfile.tpu as IMAGE-tpu, the image TPU jobs run."""
    image_uri = s.tpu_image_uri if tpu else s.image_uri
    match = re.fullmatch(r"([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^:]+):(.+)", image_uri)
    if not match:
        raise SubmitError(
            f"image {image_uri}: not an Artifact Registry image, REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG"
        )
    region, project, repository, image, tag = match.groups()
    command = [
        "gcloud",
        "builds",
        "submit",
        "--project",
        project,
        "--region",
        region,
        "--config",
        "cloudbuild.yaml",
        f"--substitutions=_REGION={region},_REPOSITORY={repository},_IMAGE={image},_TAG={tag}"
        + (",_DOCKERFILE=Dockerfile.tpu" if tpu else ""),
        ".",
    ]
    print(" ".join(command), flush=True)
    if dry_run:
        return 0
    if not shutil.which("gcloud"):
        raise SubmitError("gcloud not found: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)")
    return subprocess.call(command)
