"""Where jobs go and what they run: project, region, bucket and image, from flags, then the environment."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

from trainer import config  # the trainer's flag parser: no TensorFlow


class SubmitError(Exception):
    """A bad setting, reported as one line before anything is sent."""


@dataclass
class Settings:
    project: str
    region: str
    bucket: str
    image_uri: str  # CPU and GPU jobs
    tpu_image_uri: str  # TPU jobs: the image built from Dockerfile.tpu
    service_account: str | None
    tensorboard: str | None
    api_endpoint: str | None


def _setting(args, environ, name: str, env_name: str, default: str | None = None) -> str | None:
    return getattr(args, name, None) or environ.get(env_name) or default


def settings(args, environ, *, need_bucket: bool) -> Settings:
    """Flags, then environment variables; every value checked before anything is sent."""
    from google.cloud.aiplatform.constants import base as constants

    project = _setting(args, environ, "project", "PROJECT_ID")
    region = _setting(args, environ, "region", "REGION", "us-central1")
    bucket = _setting(args, environ, "bucket", "BUCKET")
    if not project:
        raise SubmitError("no project: pass --project or set PROJECT_ID")
    if region not in constants.SUPPORTED_REGIONS:
        raise SubmitError(f"--region {region}: not a Vertex AI region (e.g. us-central1, europe-west4)")
    if need_bucket and not bucket:
        raise SubmitError("no bucket: pass --bucket gs://BUCKET or set BUCKET")
    if bucket and not bucket.startswith("gs://"):
        raise SubmitError(f"--bucket {bucket}: must be a Cloud Storage URI, gs://BUCKET")
    repository = _setting(args, environ, "repository", "REPOSITORY", "mnist")
    image = _setting(args, environ, "image", "IMAGE", "mnist-trainer")
    tag = _setting(args, environ, "tag", "TAG", "latest")
    registry = f"{region}-docker.pkg.dev/{project}/{repository}"
    image_uri = _setting(args, environ, "image_uri", "IMAGE_URI", f"{registry}/{image}:{tag}")
    tpu_image_uri = _setting(args, environ, "tpu_image_uri", "TPU_IMAGE_URI", f"{registry}/{image}-tpu:{tag}")
    tensorboard = getattr(args, "tensorboard", None)
    service_account = _setting(args, environ, "service_account", "SERVICE_ACCOUNT")
    if tensorboard and not service_account:
        raise SubmitError(
            "--tensorboard needs --service-account (or SERVICE_ACCOUNT): Vertex AI TensorBoard uploads as that account"
        )
    return Settings(
        project,
        region,
        (bucket or "").rstrip("/"),
        image_uri,
        tpu_image_uri,
        service_account,
        tensorboard,
        _setting(args, environ, "api_endpoint", "VERTEX_API_ENDPOINT"),
    )


def trainer_refusal(args: list[str]) -> str | None:
    """The trainer's own one-line refusal of these flags (its argparse error, without the prefix), or None."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            config.from_flags(args, environ={})
    except SystemExit:
        lines = captured.getvalue().strip().splitlines()
        return re.sub(r"^.*?error: ", "", lines[-1]) if lines else "refused"
    return None


def check_trainer_args(trainer_args: list[str]) -> None:
    """Fail here, not an hour later in the cloud, on flags the trainer would reject."""
    try:
        config.from_flags(trainer_args, environ={})
    except SystemExit:
        raise SubmitError(f"trainer flags {' '.join(trainer_args)!r} are not valid (see the message above)") from None
