"""The documented formats of the names the launcher puts in a request or a URI: project IDs, Cloud Storage
places, Artifact Registry repositories, image names, tags and whole image references. A value outside its
format is one line (SubmitError) that names where it came from, before anything is sent or printed as a plan:
left unchecked, it reaches the cloud as a confusing INVALID_ARGUMENT, or a plan with a line break in it.

Sources:
- project IDs: https://cloud.google.com/resource-manager/docs/creating-managing-projects (6-30 lowercase letters,
  digits and hyphens, starting with a letter, not ending with a hyphen);
- bucket names: https://cloud.google.com/storage/docs/buckets#naming; object names:
  https://cloud.google.com/storage/docs/objects#naming (no carriage return or line feed, not . or ..);
- repository IDs: https://cloud.google.com/artifact-registry/docs/repositories/create-repos (lowercase letters,
  digits and hyphens, starting with a letter, ending with a letter or digit, up to 63);
- images, tags and digests: the grammar of github.com/distribution/reference, reference.go (what docker, podman
  and Artifact Registry parse).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from trainer import paths
from trainer.submit.errors import SubmitError
from trainer.values import shown

PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
REPOSITORY = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
# distribution/reference: path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+
PATH = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*)*"
DOMAIN = (
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
)
TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE = re.compile(PATH)
REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{DOMAIN}(?::[0-9]+)?)/)?{PATH})(?::(?P<tag>{TAG.pattern}))?(?:@(?P<digest>{DIGEST}))?",
    re.ASCII,
)
NAME_LONGEST = 255  # distribution/reference's NameTotalLengthMax: the whole name, domain included


def project(where: str, text: str) -> str:
    """A project ID as Resource Manager documents it (where: the flag or variable it came from)."""
    if re.fullmatch(r"[0-9]+", text):
        raise SubmitError(f"{where} {text}: a project number; pass the project ID "
                          f"(gcloud projects describe {text} --format='value(projectId)')")  # fmt: skip
    if ":" in text and PROJECT.fullmatch(text.rpartition(":")[2]):
        raise SubmitError(f"{where} {shown(text)}: a domain-scoped project ID, which this launcher does not support")
    if not PROJECT.fullmatch(text):
        raise SubmitError(f"{where} {shown(text)}: not a project ID (6-30 lowercase letters, digits and hyphens, "
                          "starting with a letter, not ending with a hyphen; gcloud projects list shows yours)")  # fmt: skip
    return text


def bucket_name(where: str, uri: str, name: str) -> str:
    """The bucket's name in a gs:// URI, checked against Cloud Storage's naming rules (trainer.paths)."""
    why = paths.bucket_problem(name)
    if why:
        raise SubmitError(f"{where} {shown(uri)}: {shown(name)} is not a bucket name ({why})")
    return name


def gcs_place(where: str, uri: str, *, need_path: bool) -> tuple[str, str]:
    """gs://BUCKET[/PATH] -> (BUCKET, PATH without slashes at its ends): a valid bucket name, and a path that is a
    valid object-name prefix (printable, no . or .. between slashes); a path is required if need_path."""
    form = "gs://BUCKET/PATH" if need_path else "gs://BUCKET"
    if not uri.startswith("gs://"):
        raise SubmitError(f"{where} {shown(uri)}: must be in Cloud Storage, {form}")
    name, _, path = uri.removeprefix("gs://").partition("/")
    bucket_name(where, uri, name)
    path = path.strip("/")
    if need_path and not path:
        raise SubmitError(f"{where} {shown(uri)}: names no folder or object in the bucket, {form}")
    if not path.isprintable() or {".", ".."} & set(path.split("/")) or len(path.encode()) > 900:
        raise SubmitError(f"{where} {shown(uri)}: not a valid object path in the bucket (printable, no . or .. "
                          "between slashes, up to 900 bytes)")  # fmt: skip
    return name, path


def _format(pattern: re.Pattern, what: str) -> Callable[[str, str], str]:
    """A check of one documented format: (where the value came from, the value) -> the value, or one line."""

    def check(where: str, text: str) -> str:
        if not pattern.fullmatch(text):
            raise SubmitError(f"{where} {shown(text)}: {what}")
        return text

    return check


repository = _format(REPOSITORY, "not an Artifact Registry repository ID (up to 63 lowercase letters, digits and "
                                 "hyphens, starting with a letter, ending with a letter or digit)")  # fmt: skip
image = _format(IMAGE, "not an image name (lowercase letters and digits, joined by . _ __ or -, in /-separated "
                       "parts; e.g. mnist-trainer)")  # fmt: skip
tag = _format(TAG, "not an image tag (up to 128 letters, digits, _ . and -, not starting with . or -; e.g. v3)")


def image_uri(where: str, text: str) -> str:
    """A whole image reference, REGISTRY/PATH[:TAG] or REGISTRY/PATH@sha256:HEX: the reference grammar, and not
    both a tag and a digest, which Vertex AI refuses (kubeflow/pipelines#8490)."""
    match = REFERENCE.fullmatch(text)
    if not match or len(match["name"]) > NAME_LONGEST:
        raise SubmitError(f"{where} {shown(text)}: not an image reference, REGISTRY/PATH:TAG or "
                          "REGISTRY/PATH@sha256:HEX (e.g. us-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG)")  # fmt: skip
    domain = match["domain"] or ""
    if domain != domain.lower() and not any(c in domain for c in ".:"):  # distribution's splitDockerDomain
        raise SubmitError(f"{where} {shown(text)}: {domain} would be taken for a registry host, which has no dot, so "
                          "no job could pull it; a path is lowercase (e.g. us-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG)")  # fmt: skip
    if match["tag"] and match["digest"]:
        raise SubmitError(f"{where} {text}: both a tag and a digest, which Vertex AI refuses; keep one "
                          f"({text.partition('@')[0]} or {match['name']}@{match['digest']})")  # fmt: skip
    return text


SERVICE_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}")
TENSORBOARD = re.compile(r"projects/[a-z0-9-]+/locations/(?P<region>[a-z0-9-]+)/tensorboards/[0-9]+")


service_account = _format(SERVICE_ACCOUNT, "not a service account's email (e.g. NAME@PROJECT.iam.gserviceaccount.com)")
_tensorboard = _format(TENSORBOARD, "not a TensorBoard instance, projects/PROJECT/locations/REGION/tensorboards/ID "
                                    "(gcloud ai tensorboards list shows yours)")  # fmt: skip


def tensorboard_region(where: str, text: str) -> str:
    """A TensorBoard instance's resource name -> its region, or one line (SubmitError) if it is not one."""
    found = TENSORBOARD.fullmatch(_tensorboard(where, text))
    assert found is not None  # _tensorboard refused every other text
    return found["region"]


DISPLAY_NAME_LONGEST = 128  # aiplatform_v1's CustomJob, Model, Endpoint, BatchPredictionJob: "up to 128 characters"


def display_name(where: str, text: str, *, folder: bool = False) -> str:
    """A Vertex AI display name: up to 128 printable characters, without " or \\ (models and endpoints are found
    by a list filter, display_name="NAME"). A job's is also its output folder in the bucket (folder): no / and
    not . or .."""
    bad = ('"', "\\", "/") if folder else ('"', "\\")
    if not text or len(text) > DISPLAY_NAME_LONGEST or not text.isprintable() or any(c in text for c in bad):
        raise SubmitError(f"{where} {shown(text)}: not a display name (1-{DISPLAY_NAME_LONGEST} printable "
                          f"characters, none of {' '.join(bad)})")  # fmt: skip
    if not text.strip():
        raise SubmitError(f"{where}: only spaces; pass a name")
    if folder and text in (".", ".."):
        raise SubmitError(f"{where} {text}: names the job's output folder in the bucket; pass a name")
    return text


def api_endpoint(where: str, text: str) -> str:
    """HOST[:PORT] (a Google endpoint over gRPC, as client_options.api_endpoint takes it) or http://HOST[:PORT] (a
    local emulator over REST, trainer/submit/clients.py), with nothing after the port; anything else one line."""
    try:
        split = urllib.parse.urlsplit(text if text.startswith("http://") else f"//{text}")
        usable = bool(split.hostname) and split.port != 0 and not (split.path.strip("/") or split.query)
    except ValueError:  # a port out of range, an unclosed [
        usable = False
    if not usable or not text.isprintable() or " " in text:
        raise SubmitError(f"{where} {shown(text)}: not an API endpoint (HOST[:PORT], e.g. "
                          "us-central1-aiplatform.googleapis.com, or http://HOST:PORT for a local emulator)")  # fmt: skip
    return text


JOB_COLLECTIONS = ["customJobs", "hyperparameterTuningJobs", "batchPredictionJobs"]  # the job service's (vertex.KINDS)


def resource(what: str, name: str, collections: list[str]) -> str:
    """An ID or a resource name in one of these collections (jobs, endpoints): anything else the client would
    refuse with a traceback, or, for '../x', read as another path."""
    ident = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
    if not re.fullmatch(rf"{ident}|projects/{ident}/locations/{ident}/({'|'.join(collections)})/{ident}", name):
        raise SubmitError(f"{what} {name!r}: not an ID (e.g. 1234567890) nor a resource name "
                          f"(projects/PROJECT/locations/REGION/{collections[0]}/ID)")  # fmt: skip
    return name
