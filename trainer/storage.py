"""File operations that behave alike on a local path, gs:// and Vertex AI's /gcs/ FUSE mount, and never
show a reader half a file.

tf.io.gfile speaks local paths and gs:// (TensorFlow's own Cloud Storage client), so one code path
serves a laptop and a Vertex AI job. Every error comes back as a StorageError: one line naming the
location and the cause.
"""

from __future__ import annotations

import ctypes
import os
import re
import uuid

import tensorflow as tf

from trainer.paths import in_cloud_storage, join

PROBE_PREFIX = ".write-probe-"


class StorageError(Exception):
    """A location that cannot be read or written, as one line naming it and the cause."""


def cause(error: BaseException) -> str:
    """What went wrong, in a few words, from a TensorFlow or OS error."""
    if isinstance(error, tf.errors.PermissionDeniedError) or getattr(error, "errno", None) == 13:
        return "permission denied"
    if isinstance(
        error, tf.errors.OpError
    ):  # "{{function_node ...}} PATH; File too large [Op:SaveV2]" -> "PATH; File too large"
        message = re.sub(r"\{\{[^}]*\}\}|\[Op:\w+\]", "", error.message)
        return " ".join(message.split())[-200:]
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return " ".join(str(error).split())[:200]


def _check_bucket(folder: str) -> None:
    """A gs:// bucket that does not exist is an error here: TensorFlow's makedirs would ask for it forever (seen
    against a local GCS server: tests/test_gcs_outputs.py; also reported in tensorflow/hub#272), which on Vertex
    AI is a job billed until its timeout. The preflight probe checks every output folder once, before training."""
    match = re.match(r"gs://[^/]+", folder)
    if match and not tf.io.gfile.isdir(match.group(0)):
        raise tf.errors.NotFoundError(None, None, f"no such bucket {match.group(0)} (or this job may not see it)")


def write_file(uri: str, content: bytes) -> None:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    try:
        tf.io.gfile.makedirs(os.path.dirname(uri) or ".")
        tmp = f"{uri}.tmp{os.getpid()}"
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(content)
        tf.io.gfile.rename(tmp, uri, overwrite=True)
    except (tf.errors.OpError, OSError) as e:
        raise StorageError(f"cannot write {uri}: {cause(e)}") from None


def read_text(uri: str) -> str:
    return tf.io.gfile.GFile(uri).read()


def list_files(folder: str) -> list[str]:
    """Every file below folder, as paths relative to it, sorted; [] for a missing folder."""
    if not tf.io.gfile.isdir(folder):
        return []
    found = []
    for parent, _, files in tf.io.gfile.walk(folder):
        relative = os.path.relpath(parent.rstrip("/") or "/", folder.rstrip("/") or "/")
        found += [name if relative == "." else f"{relative}/{name}" for name in files]
    return sorted(found)


def copy_tree(src: str, dst: str) -> None:
    for name in list_files(src):
        tf.io.gfile.makedirs(os.path.dirname(join(dst, name)))
        tf.io.gfile.copy(join(src, name), join(dst, name), overwrite=True)


def remove_files(folder: str, names: list[str]) -> None:
    """Remove the named files, then every folder below `folder` (and folder itself) left empty.
    Anything not named stays, so this can never delete what someone else put there."""
    for name in names:
        if tf.io.gfile.exists(join(folder, name)):
            tf.io.gfile.remove(join(folder, name))
    if not tf.io.gfile.isdir(folder):
        return
    parents = sorted({folder, *(join(folder, os.path.dirname(n)) for n in names if "/" in n)}, key=len, reverse=True)
    for parent in parents:
        if tf.io.gfile.isdir(parent) and not tf.io.gfile.listdir(parent):
            tf.io.gfile.rmtree(parent)


def probe(folder: str) -> None:
    """Write and remove a small file in folder: proof this run can write there. Folders it had to
    create for that are removed again, so a run refused later leaves nothing behind."""
    path = join(folder, f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}")
    try:
        _check_bucket(folder)
        top = folder.rstrip("/") or "/"  # the top folder this probe creates, if any
        while os.path.dirname(top) not in ("", top, "gs:") and not tf.io.gfile.exists(os.path.dirname(top)):
            top = os.path.dirname(top)
        created = not tf.io.gfile.exists(top)
        tf.io.gfile.makedirs(folder)
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(b"probe")
        tf.io.gfile.remove(path)
        if created and not list_files(top):
            tf.io.gfile.rmtree(top)
    except (tf.errors.OpError, OSError) as e:
        raise StorageError(cause(e)) from None


def is_plain_local(uri: str) -> bool:
    """A local path where renaming a folder is atomic: not gs:// and not the /gcs/ FUSE mount."""
    return not in_cloud_storage(uri)


def exchange(a: str, b: str) -> bool:
    """Swap two local folders in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
