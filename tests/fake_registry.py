"""A local fake of Artifact Registry's REST API (v1), the part ./submit.sh reads: a Docker image's tag and the
version (the sha256 digest) it points to. Answers are the client library's own artifactregistry_v1 types;
images are pushed by the test (or by a `gcloud` stand-in that plays Cloud Build)."""

from __future__ import annotations

import hashlib
import re
import threading
from urllib.parse import quote, unquote

import fake_operations as op
from google.cloud import artifactregistry_v1

TAG = re.compile(r"/v1/(projects/[^/]+/locations/[^/]+/repositories/[^/]+)/packages/([^/]+)/tags/([^/?]+)")
IMAGE = re.compile(r"([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^:@]+):(.+)")


class FakeRegistry:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}  # the tag's resource name -> its version's name (.../versions/sha256:...)
        self.lock = threading.Lock()

    def push(self, uri: str) -> str:
        """REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG as a push leaves it; returns its sha256: digest."""
        location, project, repository, image, tag = IMAGE.fullmatch(uri).groups()
        package = f"projects/{project}/locations/{location}/repositories/{repository}/packages/{quote(image, safe='')}"
        digest = "sha256:" + hashlib.sha256(uri.encode()).hexdigest()
        with self.lock:
            self.tags[f"{package}/tags/{tag}"] = f"{package}/versions/{digest}"
        return digest

    def forget(self, project: str) -> None:
        """No image of this project was ever pushed (a new project's registry)."""
        with self.lock:
            self.tags = {name: v for name, v in self.tags.items() if not name.startswith(f"projects/{project}/")}

    def route(self, method: str, url: str):
        """For a tag read, what answers it: raw body -> (HTTP status, JSON); None if not an Artifact Registry call."""
        match = TAG.fullmatch(url.split("?")[0])
        if method != "GET" or not match:
            return None
        parent, package, tag = match.groups()
        name = f"{parent}/packages/{quote(unquote(package), safe='')}/tags/{tag}"

        def answer(raw: str) -> tuple[int, str]:
            with self.lock:
                version = self.tags.get(name)
            if version is None:
                return op.error_answer(op.NOT_FOUND, f"Requested entity was not found: {name}")
            return 200, op.to_json(artifactregistry_v1.Tag(name=name, version=version))

        return answer
