"""Images addressed by their source: the digest of exactly what goes into an image, as its tag, src-<12 hex>.

What goes in is the Dockerfile and the files its COPY and ADD instructions take from the build context, after
.dockerignore, as Docker itself selects them (docker-py's `exclude_paths`, the Docker CLI's rules), read with
`dockerfile-parse`. An edit to trainer/models.py changes the tag; an edit to tests/ or docs/ does not. `build`
tags each image so; `train`, `tune`, `deploy` and `batch-predict` send the digest the tag points to, so a job
never runs an image built from other code (Skaffold's inputDigest tagger does the same for Kubernetes).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shlex
from pathlib import Path

from trainer.submit.errors import SubmitError

CONTEXT = Path(__file__).resolve().parents[2]  # the build context: the repository
DOCKERFILES = {"training": "Dockerfile", "tpu": "Dockerfile.tpu", "serving": "Dockerfile.serving"}  # by image kind
LENGTH = 12  # hex digits in the tag, as Git's short hashes


def _sources(dockerfile: Path) -> list[str]:
    """The context paths the Dockerfile's COPY and ADD instructions take (not those --from another stage)."""
    from dockerfile_parse import DockerfileParser

    found = []
    with dockerfile.open("rb") as text:
        structure = DockerfileParser(fileobj=text).structure
    for instruction in structure:
        if instruction["instruction"] not in ("COPY", "ADD"):
            continue
        value = instruction["value"].strip()
        words = json.loads(value) if value.startswith("[") else shlex.split(value)
        if any(w.startswith("--from") for w in words):
            continue
        found += [w.rstrip("/") or "." for w in [w for w in words if not w.startswith("--")][:-1]]
    return found


def files(dockerfile: str, context: Path | None = None) -> list[str]:
    """The context's files that go into the image built from `dockerfile`, and the Dockerfile itself: sorted
    paths relative to the context."""
    from docker.utils.build import exclude_paths  # the Docker CLI's .dockerignore rules

    context = context or CONTEXT

    if not (context / dockerfile).is_file():
        raise SubmitError(
            f"no {dockerfile} in {context}: the image for this source is built from a clone of the repository; "
            "run ./submit.sh from one, or pass --image-uri"
        )
    ignore = context / ".dockerignore"
    patterns = ignore.read_text().splitlines() if ignore.is_file() else []
    sources = _sources(context / dockerfile)
    taken = {
        path
        for path in exclude_paths(str(context), patterns, dockerfile=dockerfile)
        if (context / path).is_file()
        and any(s == "." or fnmatch.fnmatch(path, s) or path.startswith(f"{s}/") for s in sources)
    }
    return sorted(taken | {dockerfile})


def digest(dockerfile: str, context: Path | None = None) -> str:
    """The first LENGTH hex digits of a SHA-256 over each file's path, executable bit and bytes, in order."""
    total, context = hashlib.sha256(), context or CONTEXT
    for path in files(dockerfile, context):
        data = (context / path).read_bytes()
        executable = os.access(context / path, os.X_OK)
        total.update(f"{path}\0{int(executable)}\0{len(data)}\0".encode())
        total.update(data)
    return total.hexdigest()[:LENGTH]


def tag(dockerfile: str, context: Path | None = None) -> str:
    """src-<12 hex>: the tag of the image built from `dockerfile` with this source."""
    return f"src-{digest(dockerfile, context)}"
