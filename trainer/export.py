"""Writing the job's outputs where Vertex AI says, local or gs://, each file whole or not at all.

TensorFlow's file API (tf.io.gfile) speaks both local paths and gs:// inside Google Cloud,
so one code path serves a laptop and a Vertex AI job.
"""

from __future__ import annotations

import os
import tempfile

import keras
import tensorflow as tf


def join(*parts: str) -> str:
    """os.path.join that keeps gs:// URIs intact."""
    return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:])])


def write_file(uri: str, content: bytes) -> None:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    tf.io.gfile.makedirs(os.path.dirname(uri) or ".")
    tmp = f"{uri}.tmp{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(content)
    tf.io.gfile.rename(tmp, uri, overwrite=True)


def _copy_tree(src: str, dst: str) -> None:
    for folder, _, files in tf.io.gfile.walk(src):
        target = join(dst, os.path.relpath(folder, src)) if folder != src else dst
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(join(folder, name), join(target, name), overwrite=True)


def export_model(model: keras.Model, model_dir: str) -> None:
    """The SavedModel Vertex AI prediction serves, plus model.keras beside it.

    `serving_default` takes `image`, float32 [batch, 28, 28] in [0, 1] (the codelab's prediction
    instances), and returns `probabilities` [batch, 10] and `digit` int32 [batch]. Both are written
    to a local folder first, then copied, so a half-exported model never appears in model_dir.
    """

    def serve(image):
        probabilities = tf.cast(model(image, training=False), tf.float32)
        return {"probabilities": probabilities, "digit": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="image")])
    with tempfile.TemporaryDirectory() as staging:
        archive.write_out(os.path.join(staging, "saved_model"), verbose=False)
        model.save(os.path.join(staging, "saved_model", "model.keras"))
        if tf.io.gfile.exists(model_dir):
            tf.io.gfile.rmtree(model_dir)
        _copy_tree(os.path.join(staging, "saved_model"), model_dir)
