"""The codelab notebooks' way of training, as a yardstick for the trainer. Never product code.

    python benchmarks/baseline_notebook.py --stage conv      # full codelab budget: accuracy and images/s

It runs with TensorFlow's own settings, as a notebook does: TensorFlow is imported before the trainer, whose
defaults (oneDNN on) would otherwise apply. On a CPU without AVX512_VNNI, AVX512_BF16 or AMX, TensorFlow leaves
oneDNN off by default; benchmarks/throughput.py runs this file in a child process for that reason.

Reads the raw IDX records with tf.data.FixedLengthRecordDataset, decodes and scales them in map(),
caches, shuffles 5,000 at a time, repeats, batches and prefetches; one-hot labels with
categorical_crossentropy; validation on the 10,000 test digits in a single batch. The models and
their defaults are the trainer's stages, so only the way of feeding and compiling differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras  # and TensorFlow with it, before common imports the trainer: the notebook's TensorFlow settings
import tensorflow as tf
from common import DATA_DIR_HELP, DEFAULT_DATA_DIR, onednn  # puts the repository on sys.path

from trainer import data, models, reporting


def read_label(tf_bytestring):
    label = tf.io.decode_raw(tf_bytestring, tf.uint8)
    label = tf.reshape(label, [])
    return tf.one_hot(label, 10)


def read_image(tf_bytestring):
    image = tf.io.decode_raw(tf_bytestring, tf.uint8)
    image = tf.cast(image, tf.float32) / 255.0
    return tf.reshape(image, [28, 28])


def load_dataset(image_file: Path, label_file: Path):
    images = tf.data.FixedLengthRecordDataset(str(image_file), 28 * 28, header_bytes=16, compression_type="GZIP")
    images = images.map(read_image, num_parallel_calls=16)
    labels = tf.data.FixedLengthRecordDataset(str(label_file), 1, header_bytes=8, compression_type="GZIP")
    labels = labels.map(read_label, num_parallel_calls=16)
    return tf.data.Dataset.zip((images, labels))


def training_dataset(files: dict[str, Path], batch_size: int):
    """files: the four gzipped IDX files, as trainer.data.find_files gives them."""
    dataset = load_dataset(files["train_images"], files["train_labels"])
    dataset = dataset.cache()
    dataset = dataset.shuffle(5000, reshuffle_each_iteration=True)
    dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(-1)


def validation_dataset(files: dict[str, Path]):
    dataset = load_dataset(files["test_images"], files["test_labels"])
    dataset = dataset.cache()
    dataset = dataset.batch(10000, drop_remainder=True)
    return dataset.repeat()


def stock_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """Keras's own batch norm in place of the trainer's fused one, as in the notebooks."""
    if isinstance(layer, models.BatchNormalization):
        return keras.layers.BatchNormalization.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


def build(stage: models.Stage) -> keras.Model:
    model = keras.models.clone_model(models.build(stage, stage.dropout), clone_function=stock_layer)
    model.compile(
        optimizer=models.optimizer(stage, stage.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    return model


class EpochTimer(keras.callbacks.Callback):
    """The seconds of the last epoch's steps, without fit()'s own set-up and tear-down."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def timed_epochs(model: keras.Model, dataset, steps: int) -> None:
    """For benchmarks/throughput.py: one epoch of `steps` steps for each line read from stdin, its seconds
    written to stdout; the first line written says this process's oneDNN setting."""
    timer = EpochTimer()
    print("oneDNN", onednn(), flush=True)
    for _ in sys.stdin:
        model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        print(timer.seconds, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", default="batchnorm")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=DATA_DIR_HELP)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--timed-epochs", type=int, metavar="STEPS", help="serve benchmarks/throughput.py (see timed_epochs)"
    )
    args = p.parse_args()
    stage = models.resolve_stage(args.stage)
    keras.utils.set_random_seed(args.seed)
    model = build(stage)
    files = data.find_files(args.data_dir)
    if args.timed_epochs:
        timed_epochs(model, training_dataset(files, stage.batch_size), args.timed_epochs)
        return 0
    steps_per_epoch = 60000 // stage.batch_size
    start = time.perf_counter()
    history = model.fit(
        training_dataset(files, stage.batch_size),
        steps_per_epoch=steps_per_epoch,
        epochs=stage.epochs,
        validation_data=validation_dataset(files),
        validation_steps=1,
        callbacks=[reporting.lr_schedule(stage.learning_rate, stage.lr_decay)],
        verbose=2,
    )
    wall = time.perf_counter() - start
    accuracy = history.history["val_accuracy"][-1]
    print(
        f"baseline: stage {stage.name}, {stage.epochs} epochs, test accuracy {accuracy:.2%}, {wall:.0f} s wall, "
        f"oneDNN {onednn()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
