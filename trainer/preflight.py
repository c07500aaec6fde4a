"""Before any data is read: can this run write everything it will write, and may it replace the model folder?

A typo in a path or a bucket the service account may not write to costs seconds here, not an hour
of a billed GPU followed by a traceback at export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from trainer import export, storage


@dataclass(frozen=True)
class Output:
    """An output location and the flag or environment variable it came from, e.g. "--job-dir" or "$AIP_MODEL_DIR"."""

    uri: str
    source: str


class PreflightError(Exception):
    """An output location the run cannot or must not write, as one line."""


def _norm(uri: str) -> str:
    uri = uri.rstrip("/")
    return uri if uri.startswith("gs://") else os.path.abspath(uri)


def _inside(uri: str, folder: str) -> bool:
    return _norm(uri) == _norm(folder) or _norm(uri).startswith(_norm(folder) + "/")


def _hint(uri: str, reason: str) -> str:
    if reason == "permission denied" and uri.startswith(("gs://", "/gcs/")):
        return "; the job's service account needs write access to the bucket (roles/storage.objectUser)"
    return ""


def check(model: Output | None, folders: list[Output]) -> None:
    """Raise PreflightError at the first output this run could not or must not write.

    model: the folder the export replaces (None on a worker, which writes no model); it must be
    empty, missing or this trainer's own export, and must not hold any other output. folders: every
    other folder the run writes to; each is probed with a small file that is removed again.
    """
    if model is not None:
        try:
            export.check_model_dir(model.uri)
        except storage.StorageError as e:
            raise PreflightError(f"{model.source} {model.uri}: {e}") from None
        for other in folders:
            if _inside(other.uri, model.uri):
                raise PreflightError(
                    f"{model.source} {model.uri}: also holds {other.source} {other.uri}; every export replaces "
                    "the model folder, so give the model a folder of its own"
                )
    probes = [(output.uri, output) for output in folders]
    if model is not None:  # the export writes a sibling first, then swaps it in
        probes.insert(0, (model.uri.rstrip("/") + export.SIBLING_SUFFIX, model))
    for uri, output in probes:
        try:
            storage.probe(uri)
        except storage.StorageError as e:
            raise PreflightError(
                f"{output.source} {output.uri}: cannot write there ({e}){_hint(output.uri, str(e))}"
            ) from None
