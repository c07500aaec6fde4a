"""Where jobs go and what they run: project, region, bucket and image, from flags, then the environment, then
(the project and the region) gcloud's own configuration."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

from trainer import config, data  # the trainer's flag parser and data files: no TensorFlow
from trainer import training_contract as contract
from trainer.paths import in_cloud_storage, is_bucket_root
from trainer.submit import gcloud_config, names, source
from trainer.submit.errors import SubmitError
from trainer.submit.regions import VERTEX_REGIONS
from trainer.values import shown


@dataclass(frozen=True)
class Settings:
    """Where jobs go and what they run. The images: training (CPU and GPU jobs, Dockerfile), tpu (Dockerfile.tpu)
    and serving (deploy, Dockerfile.serving), each REGISTRY/NAME:TAG, TAG the one given or else the image's source
    tag (trainer/submit/source.py), unless the whole URI was given."""

    project: str
    region: str
    bucket: str
    registry: str  # REGION-docker.pkg.dev/PROJECT/REPOSITORY
    image: str  # the training image's name; the TPU image is IMAGE-tpu
    tag: str | None  # --tag or TAG; None: each image's source tag
    given: Mapping[str, str]  # an image kind -> its whole URI, as given (--image-uri, ...) or resolved to a digest
    service_account: str | None
    tensorboard: str | None
    api_endpoint: str | None

    def image_uri(self, kind: str) -> str:
        """The URI of the training, tpu or serving image."""
        if kind in self.given:
            return self.given[kind]
        name = {"training": self.image, "tpu": f"{self.image}-tpu", "serving": "mnist-serving"}[kind]
        return f"{self.registry}/{name}:{self.tag or source.tag(source.DOCKERFILES[kind])}"

    def from_source(self, kind: str) -> bool:
        """Whether the image of this kind is addressed by this source (src-<12 hex>), not given whole or by --tag."""
        return kind not in self.given and self.tag is None


# The settings' flags (cli) and the environment variables each falls back to.
ENVIRONMENT = {
    "project": "PROJECT_ID", "region": "REGION", "bucket": "BUCKET", "repository": "REPOSITORY", "image": "IMAGE",
    "tag": "TAG", "image_uri": "IMAGE_URI", "tpu_image_uri": "TPU_IMAGE_URI", "service_account": "SERVICE_ACCOUNT",
    "serving_image_uri": "SERVING_IMAGE_URI",
    "tensorboard": "TENSORBOARD", "api_endpoint": "VERTEX_API_ENDPOINT",
}  # fmt: skip
WHOLE = {"training": "image_uri", "tpu": "tpu_image_uri", "serving": "serving_image_uri"}  # each image's whole-URI flag


def settings(flags: Mapping[str, str | None], environ: Mapping[str, str], *, need_bucket: bool) -> Settings:
    """Flags (by name, as ENVIRONMENT lists them), then environment variables, then gcloud's properties (the
    project and the region only); every value checked before anything is sent."""

    def lookup(name: str) -> tuple[str | None, str]:
        """A setting's value and where it came from, as its error line names it."""
        if flags.get(name):
            return flags[name], f"--{name.replace('_', '-')}"
        if environ.get(ENVIRONMENT[name]) or name not in gcloud_config.PROPERTIES:
            return environ.get(ENVIRONMENT[name]), ENVIRONMENT[name]
        return gcloud_config.setting(name, environ) or (None, ENVIRONMENT[name])

    for name, value in flags.items():  # `--project "$UNSET"`: refused, not replaced by the environment's value
        if value is not None and not value.strip():
            raise SubmitError(f"--{name.replace('_', '-')} {shown(value)}: empty; pass a value, or drop the flag to use "
                              f"${ENVIRONMENT[name]}")  # fmt: skip
    found = {name: lookup(name) for name in ENVIRONMENT}  # each once; gcloud's file only for what nothing else gave

    def get(name: str) -> str | None:
        return found[name][0]

    def get_or(name: str, default: str) -> str:
        return get(name) or default

    def where(name: str) -> str:
        return found[name][1]

    project, region, bucket = get("project"), get_or("region", "us-central1"), get("bucket")
    if not project:
        raise SubmitError("no project: pass --project, set PROJECT_ID or run: gcloud config set project PROJECT")
    names.project(where("project"), project)
    if region not in VERTEX_REGIONS:
        raise SubmitError(f"{where('region')} {shown(region)}: not a Vertex AI region (e.g. us-central1, europe-west4)")
    if need_bucket and not bucket:
        raise SubmitError("no bucket: pass --bucket gs://BUCKET or set BUCKET")
    if bucket:
        names.gcs_place(where("bucket"), bucket, need_path=False)
    repository, image, tag = get_or("repository", "mnist"), get_or("image", "mnist-trainer"), get("tag")
    names.repository(where("repository"), repository)
    names.image(where("image"), image)
    if tag:
        names.tag(where("tag"), tag)
    given = {kind: names.image_uri(where(flag), uri) for kind, flag in WHOLE.items() if (uri := get(flag))}
    tensorboard, service_account = get("tensorboard"), get("service_account")
    if tensorboard and not service_account:
        raise SubmitError(
            "--tensorboard needs --service-account (or SERVICE_ACCOUNT): Vertex AI TensorBoard uploads as that account"
        )
    if tensorboard:
        # The job, its bucket and the instance in one region (vertex-ai/docs/experiments/tensorboard-setup).
        located = names.tensorboard_region(where("tensorboard"), tensorboard)
        if located != region:
            raise SubmitError(f"{where('tensorboard')} {tensorboard}: an instance in {located}, and the job runs in "
                              f"{region}; Vertex AI TensorBoard takes jobs of its own region: pass one in {region}, "
                              f"or --region {located}")  # fmt: skip
    if service_account:
        names.service_account(where("service_account"), service_account)
    api_endpoint = get("api_endpoint")
    if api_endpoint:
        names.api_endpoint(where("api_endpoint"), api_endpoint)
    return Settings(
        project=project,
        region=region,
        bucket=(bucket or "").rstrip("/"),
        registry=f"{region}-docker.pkg.dev/{project}/{repository}",
        image=image,
        tag=tag,
        given=given,
        service_account=service_account,
        tensorboard=tensorboard,
        api_endpoint=get("api_endpoint"),
    )


def _trainer_parse(args: list[str]) -> tuple[config.Config | None, str | None]:
    """The trainer's Config for these flags, or its own one-line refusal (its argparse error, without the prefix)."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return config.from_flags(args, environ={}), None
    except SystemExit:
        lines = captured.getvalue().strip().splitlines()
        return None, re.sub(r"^.*?error: ", "", lines[-1]) if lines else "refused"


def trainer_refusal(args: list[str]) -> str | None:
    """The trainer's own one-line refusal of these flags, or None."""
    return _trainer_parse(args)[1]


def trainer_config(trainer_args: list[str]) -> config.Config:
    """The trainer's Config for these flags, parsed as the trainer will: fail here in one line (the trainer's own
    message), not an hour later in the cloud, on flags it would reject."""
    parsed, refused = _trainer_parse(trainer_args)
    if parsed is None:
        raise SubmitError(f"trainer flags {shown(' '.join(trainer_args))}: {refused}")
    return parsed


def check_cloud_paths(c: config.Config) -> None:
    """One line for a trainer folder a job in the cloud cannot use: --data-dir on this machine (the job cannot
    read it), or an output folder given on the job's own disk (lost when the job ends)."""
    if not in_cloud_storage(c.data_dir) and c.data_dir != str(data.SAMPLE_DIR):  # --smoke: in the image
        raise SubmitError(f"--data-dir {shown(c.data_dir)}: a folder on this machine, which a job in the cloud cannot "
                          "read; pass gs://BUCKET/PATH (./submit.sh setup copies MNIST to BUCKET/mnist)")  # fmt: skip
    for name in ("job_dir", *contract.OUTPUTS):
        flag, folder = f"--{name.replace('_', '-')}", getattr(c, name)
        if c.sources.get(name) == flag and not in_cloud_storage(folder):
            raise SubmitError(f"{flag} {shown(folder)}: not in Cloud Storage, so the job's disk would hold it and "
                              "lose it when the job ends; pass gs://BUCKET/PATH, or drop the flag (the job writes "
                              "to BUCKET/NAME)")  # fmt: skip
    if c.sources.get("model_dir") == "--model-dir" and is_bucket_root(c.model_dir):  # the trainer's own refusal, early
        raise SubmitError(f"--model-dir {shown(c.model_dir)}: is a bucket root; every export replaces the model "
                          f"folder, so give it one of its own, e.g. {c.model_dir.rstrip('/')}/mnist/model")  # fmt: skip
