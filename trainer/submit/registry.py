"""Artifact Registry through its own client library (google-cloud-artifact-registry): whether an image's tag exists,
and the digest it points to. A job is sent with REPO/IMAGE@sha256:..., the digest alone: Vertex AI refuses
IMAGE:TAG@sha256:... (kubeflow/pipelines#8490), and a digest cannot be moved by a later push.

Artifact Registry names a Docker image's tag projects/P/locations/L/repositories/R/packages/IMAGE/tags/TAG, its
version .../versions/sha256:HEX; an image path with slashes is one package, its slashes escaped as %2F
(https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories.packages.tags).
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from urllib.parse import quote

from google.api_core import exceptions
from google.auth.credentials import Credentials
from google.cloud import artifactregistry_v1

from trainer.submit import clients
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings
from trainer.values import shown

DOCKER_IMAGE = re.compile(r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repository>[^/]+)/"
                          r"(?P<image>[^:@]+):(?P<tag>[\w.-]+)")  # fmt: skip


def client(s: Settings, credentials: Credentials) -> artifactregistry_v1.ArtifactRegistryClient:
    """The Artifact Registry client (trainer/submit/clients.py: an http:// --api-endpoint is an emulator's)."""
    return clients.make(artifactregistry_v1.ArtifactRegistryClient, s, credentials)


def repository_name(s: Settings) -> str:
    """The Repository resource's name of the settings' REGION-docker.pkg.dev/PROJECT/REPOSITORY."""
    host, project, repository = s.registry.split("/")
    return f"projects/{project}/locations/{host.removesuffix('-docker.pkg.dev')}/repositories/{repository}"


def tag_name(uri: str) -> str:
    """The Tag resource's name of REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG."""
    match = DOCKER_IMAGE.fullmatch(uri)
    if not match:
        raise SubmitError(
            f"image {shown(uri)}: not an Artifact Registry image, REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG"
        )
    p = match.groupdict()
    return (f"projects/{p['project']}/locations/{p['location']}/repositories/{p['repository']}/packages/"
            f"{quote(p['image'], safe='')}/tags/{p['tag']}")  # fmt: skip


def digest(registry: artifactregistry_v1.ArtifactRegistryClient, uri: str) -> str | None:
    """sha256:HEX, the digest the image's tag points to; None if there is no such tag."""
    try:
        tag = registry.get_tag(name=tag_name(uri))
    except exceptions.NotFound:
        return None
    return tag.version.rsplit("/", 1)[-1]


def pinned(s: Settings, credentials: Credentials, kinds: list[str]) -> Settings:
    """Settings whose images of these kinds (training, tpu, serving) built from this source are sent by digest;
    one line (SubmitError) for one that is not built. An image given whole (--image-uri, a --tag) is used as
    given, and one line says so."""
    registry, given = client(s, credentials), dict(s.given)
    for kind in kinds:
        uri = s.image_uri(kind)
        if not s.from_source(kind):
            print(f"image: {uri}, as given; the source check was skipped", file=sys.stderr, flush=True)
            continue
        found = digest(registry, uri)
        source = uri.rsplit(":", 1)[1]
        if found is None:
            build = "./submit.sh build" + (" --tpu" if kind == "tpu" else "")
            raise SubmitError(f"the {kind} image for this source ({source}) is not built: {build}")
        given[kind] = f"{uri.rsplit(':', 1)[0]}@{found}"
        print(f"image: {given[kind]} ({source})", flush=True)
    return replace(s, given=given)
