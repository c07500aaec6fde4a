"""Paths that may be local, gs:// or Vertex AI's /gcs/ mount: pure string functions, no TensorFlow, so the
flags can be checked (trainer.config) without importing it."""

from __future__ import annotations

import ipaddress
import re

# https://cloud.google.com/storage/docs/buckets#naming
BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def join(*parts: str) -> str:
    """os.path.join that keeps gs:// URIs intact."""
    return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:])])


def in_cloud_storage(uri: str) -> bool:
    """gs://, or Vertex AI's /gcs/ FUSE mount of it: what a job in the cloud can read and keep."""
    return uri.startswith(("gs://", "/gcs/"))


def is_bucket_root(uri: str) -> bool:
    """gs://BUCKET or /gcs/BUCKET with no folder below it."""
    return re.fullmatch(r"(gs:/|/gcs)/[^/]+/*", uri) is not None


def bucket_problem(name: str) -> str | None:
    """What breaks Cloud Storage's bucket naming rules in NAME, or None for a valid name."""
    if not BUCKET.fullmatch(name):
        return "3-63 lowercase letters, digits, -, _ and . starting and ending with a letter or digit"
    if len(name) > 63 and "." not in name or any(len(part) > 63 for part in name.split(".")):
        return "at most 63 characters (222 with dots, 63 between them)"
    if ".." in name:
        return "no two dots in a row"
    try:
        ipaddress.ip_address(name)
        return "not an IP address"
    except ValueError:
        pass
    if name.startswith("goog") or "google" in name:
        return "not starting with goog nor holding google"
    return None
