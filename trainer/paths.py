"""Paths that may be local, gs:// or Vertex AI's /gcs/ mount: pure string functions, no TensorFlow, so the
flags can be checked (trainer.config) without importing it."""

from __future__ import annotations

import re


def join(*parts: str) -> str:
    """os.path.join that keeps gs:// URIs intact."""
    return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:])])


def is_bucket_root(uri: str) -> bool:
    """gs://BUCKET or /gcs/BUCKET with no folder below it."""
    return re.fullmatch(r"(gs:/|/gcs)/[^/]+/*", uri) is not None
