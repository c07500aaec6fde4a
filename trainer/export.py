"""The exported model, and the one folder the trainer replaces: only when it is empty or holds this
trainer's own previous export.

Every export carries a marker, export.json, listing the files it wrote. A folder with anything else
in it (a user's files, a bucket root, a file where the folder should be) is refused before training
and again before the swap, so `--model-dir` can never delete what the trainer did not write.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from importlib import metadata

import keras
import tensorflow as tf

from trainer import paths, storage

MARKER = "export.json"
SIBLING_SUFFIX = ".export-tmp"  # the new export is written beside the old one, then swapped in


def _version() -> str:
    try:
        return metadata.version("mnist-vertex-trainer")
    except metadata.PackageNotFoundError:
        return "unknown"


def _ours(name: str, listed: set[str]) -> bool:
    """A file of this trainer's: the marker, a file it lists, or the marker's temporary (_put_marker's in the
    sibling, or storage.write_file's from an earlier version, left by a kill before its rename)."""
    return name == MARKER or name in listed or re.fullmatch(re.escape(MARKER) + r"\.tmp\d+", name) is not None


def _foreign(folder: str) -> list[str]:
    """Files in folder that no export of this trainer wrote; [] for a missing or empty folder or our own export."""
    files = storage.list_files(folder)
    try:
        listed = set(json.loads(storage.read_text(storage.join(folder, MARKER)))["files"]) if MARKER in files else set()
    except (ValueError, KeyError, TypeError, tf.errors.OpError):
        return files  # a marker we cannot read is not ours either
    return [name for name in files if not _ours(name, listed)]


def _is_root(folder: str) -> bool:
    """/ (or //, /., ...): a local path whose folder is the file system's root."""
    return not paths.in_cloud_storage(folder) and os.path.abspath(folder) in ("/", "//")


def check_replaceable(model_dir: str) -> None:
    """Raise StorageError (a reason, without the location) unless model_dir may be replaced by an export, or when
    it cannot be looked at (no network, no such bucket, no permission)."""
    root = "a bucket root" if paths.is_bucket_root(model_dir) else "the root folder" if _is_root(model_dir) else None
    if root:  # checked before anything lists it: the root folder is the whole disk
        raise storage.StorageError(
            f"is {root}; every export replaces the model folder, so give it one of its own, "
            f"e.g. {storage.join(model_dir, 'mnist/model')}"
        )
    try:
        _check_folders(model_dir)
    except (tf.errors.OpError, OSError) as e:
        raise storage.StorageError(f"cannot look at it ({storage.cause(e)})") from None


def _check_folders(model_dir: str) -> None:
    for folder in (model_dir, model_dir.rstrip("/") + SIBLING_SUFFIX):
        which = "" if folder == model_dir else f"{folder}, where the new export is staged, "
        if tf.io.gfile.exists(folder) and not tf.io.gfile.isdir(folder):
            raise storage.StorageError(f"{which}is a file, not a folder; pass a folder for the model")
        foreign = _foreign(folder)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise storage.StorageError(
                f"{which}holds files this trainer did not write ({shown}); it replaces only an "
                "empty folder or its own previous export: pass a new or empty folder"
            )


def _put_marker(marker: dict, sibling: str, model_dir: str) -> None:
    """Write the marker beside the sibling's own, then rename it into model_dir: a reader of model_dir never sees
    a temporary (a poller saw one on gs://, where a rename is a copy and a delete, and once locally), and a kill
    leaves it where the sibling's check accepts it as the trainer's."""
    staged = storage.join(sibling, f"{MARKER}.tmp{os.getpid()}")
    with tf.io.gfile.GFile(staged, "wb") as f:
        f.write(json.dumps(marker, indent=2).encode())
    tf.io.gfile.makedirs(model_dir)
    tf.io.gfile.rename(staged, storage.join(model_dir, MARKER), overwrite=True)


def _swap_in(staging: str, model_dir: str) -> None:
    """Replace model_dir's export with the one in staging, never leaving model_dir empty or half-written.

    The new export is copied beside the old one first. Locally the two folders are then exchanged
    in one atomic rename. On gs:// and /gcs/, where folders cannot be renamed, the files are copied
    over the old ones; the marker lists both sets until the old files are gone, so a kill at any
    moment leaves a folder the next export may still replace.
    """
    check_replaceable(model_dir)  # again: the folder may have changed while the model trained
    sibling = model_dir.rstrip("/") + SIBLING_SUFFIX
    storage.remove_files(sibling, storage.list_files(sibling))  # a stale copy of ours from a killed export
    storage.copy_tree(staging, sibling)
    old = storage.list_files(model_dir)
    if storage.is_plain_local(model_dir):
        if not tf.io.gfile.exists(model_dir):
            os.rename(sibling, model_dir)
            return
        if storage.exchange(sibling, model_dir):
            storage.remove_files(sibling, old)
            return
    new = storage.list_files(staging)
    marker = json.loads(storage.read_text(storage.join(staging, MARKER)))
    both = sorted((set(old) | set(new)) - {MARKER})
    _put_marker({**marker, "files": both}, sibling, model_dir)
    for name in new:
        if name != MARKER:
            tf.io.gfile.makedirs(os.path.dirname(storage.join(model_dir, name)))
            tf.io.gfile.copy(storage.join(sibling, name), storage.join(model_dir, name), overwrite=True)
    storage.remove_files(model_dir, sorted(set(old) - set(new)))
    _put_marker(marker, sibling, model_dir)
    storage.remove_files(sibling, new)


def export_model(model: keras.Model, model_dir: str, info: dict | None = None) -> None:
    """Write the SavedModel Vertex AI prediction serves, model.keras and the export.json marker to model_dir.

    Takes a trained model, the folder (local, gs:// or /gcs/) and what the marker should record
    (stage, ...). `serving_default` takes `image`, float32 [batch, 28, 28] in [0, 1] (the codelab's
    prediction instances), and returns `probabilities` [batch, 10] and `digit` int32 [batch].
    Raises StorageError, leaving any previous export whole, when the folder cannot be written.
    """

    def serve(image):
        probabilities = tf.cast(model(image, training=False), tf.float32)
        return {"probabilities": probabilities, "digit": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serve, input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="image")]
    )
    try:
        with tempfile.TemporaryDirectory() as scratch:
            staging = os.path.join(scratch, "saved_model")
            archive.write_out(staging, verbose=False)
            model.save(os.path.join(staging, "model.keras"))
            marker = {
                "trainer": "mnist-vertex-trainer",
                "version": _version(),
                **(info or {}),
                "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": storage.list_files(staging),
            }
            with open(os.path.join(staging, MARKER), "w") as f:
                json.dump(marker, f, indent=2)
            _swap_in(staging, model_dir)
    except storage.StorageError as e:
        raise storage.StorageError(f"cannot export the model to {model_dir}: {e}") from None
    except (tf.errors.OpError, OSError) as e:
        raise storage.StorageError(f"cannot export the model to {model_dir}: {storage.cause(e)}") from None
