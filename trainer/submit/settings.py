"""Where jobs go and what they run: project, region, bucket and image, from flags, then the environment."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

from trainer import config  # the trainer's flag parser: no TensorFlow
from trainer.submit.errors import SubmitError
from trainer.submit.regions import VERTEX_REGIONS


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    bucket: str
    image_uri: str  # CPU and GPU jobs
    tpu_image_uri: str  # TPU jobs: the image built from Dockerfile.tpu
    serving_image_uri: str  # deploy: the image built from Dockerfile.serving
    service_account: str | None
    tensorboard: str | None
    api_endpoint: str | None


# The settings' flags (cli) and the environment variables each falls back to.
ENVIRONMENT = {
    "project": "PROJECT_ID", "region": "REGION", "bucket": "BUCKET", "repository": "REPOSITORY", "image": "IMAGE",
    "tag": "TAG", "image_uri": "IMAGE_URI", "tpu_image_uri": "TPU_IMAGE_URI", "service_account": "SERVICE_ACCOUNT",
    "serving_image_uri": "SERVING_IMAGE_URI",
    "tensorboard": "TENSORBOARD", "api_endpoint": "VERTEX_API_ENDPOINT",
}  # fmt: skip


def settings(flags: Mapping[str, str | None], environ: Mapping[str, str], *, need_bucket: bool) -> Settings:
    """Flags (by name, as ENVIRONMENT lists them), then environment variables; every value checked before
    anything is sent."""

    def get(name: str) -> str | None:
        return flags.get(name) or environ.get(ENVIRONMENT[name])

    def get_or(name: str, default: str) -> str:
        return get(name) or default

    project, region, bucket = get("project"), get_or("region", "us-central1"), get("bucket")
    if not project:
        raise SubmitError("no project: pass --project or set PROJECT_ID")
    if region not in VERTEX_REGIONS:
        raise SubmitError(f"--region {region}: not a Vertex AI region (e.g. us-central1, europe-west4)")
    if need_bucket and not bucket:
        raise SubmitError("no bucket: pass --bucket gs://BUCKET or set BUCKET")
    if bucket and not bucket.startswith("gs://"):
        raise SubmitError(f"--bucket {bucket}: must be a Cloud Storage URI, gs://BUCKET")
    registry = f"{region}-docker.pkg.dev/{project}/{get_or('repository', 'mnist')}"
    image, tag = get_or("image", "mnist-trainer"), get_or("tag", "latest")
    tensorboard, service_account = get("tensorboard"), get("service_account")
    if tensorboard and not service_account:
        raise SubmitError(
            "--tensorboard needs --service-account (or SERVICE_ACCOUNT): Vertex AI TensorBoard uploads as that account"
        )
    return Settings(
        project=project,
        region=region,
        bucket=(bucket or "").rstrip("/"),
        image_uri=get_or("image_uri", f"{registry}/{image}:{tag}"),
        tpu_image_uri=get_or("tpu_image_uri", f"{registry}/{image}-tpu:{tag}"),
        serving_image_uri=get_or("serving_image_uri", f"{registry}/mnist-serving:{tag}"),
        service_account=service_account,
        tensorboard=tensorboard,
        api_endpoint=get("api_endpoint"),
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


def trainer_config(trainer_args: list[str]) -> config.Config:
    """The trainer's Config for these flags, parsed as the trainer will: fail here, not an hour later in the
    cloud, on flags it would reject (its own message first, then one line)."""
    try:
        return config.from_flags(trainer_args, environ={})
    except SystemExit:
        raise SubmitError(f"trainer flags {' '.join(trainer_args)!r} are not valid (see the message above)") from None
