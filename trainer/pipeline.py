"""The run's data: the arrays trainer.data reads, cut to the sizes asked for and checked, and their tf.data
pipelines of scaled batches."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

import numpy as np

from trainer import data

if TYPE_CHECKING:
    import tensorflow as tf

    from trainer.config import Config
    from trainer.distribution import Placement


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None = None,
    drop_remainder: bool = False,
):
    """Batches of (float32 images in [0, 1], int labels) from uint8 arrays held in memory.

    Every tf.data step works on whole batches: each epoch draws one permutation of the indices and
    cuts it into batches, and a batch of pixels is gathered and scaled in one op. Per-image steps
    (a shuffle buffer, batch()) cost a few percent of training speed on a 2-core CPU. Autotuning is off:
    one thread outruns the model, and an autotuned iterator's deletion waits for the tuner's next
    wake-up, up to seconds. Every worker holds the whole set and the same seed, so sharding by
    DATA (each worker takes every n-th batch) gives disjoint shards. TPUs need drop_remainder.
    """
    import tensorflow as tf

    images_t, labels_t = tf.constant(images), tf.constant(labels)
    n = len(images)
    whole = n // batch_size * batch_size

    def batches(order):
        ds = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:whole], [-1, batch_size]))
        if whole < n and not drop_remainder:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(order[whole:]))
        return ds

    if shuffle:  # a new seed each epoch (each iteration), the same sequence of them on every worker
        epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        ds = epoch_seeds.flat_map(lambda s: batches(tf.random.experimental.stateless_shuffle(tf.range(n), seed=[s, 0])))
    else:
        ds = batches(tf.range(n))
    batches_per_epoch = n // batch_size if drop_remainder else -(-n // batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches_per_epoch))  # flat_map hides it from Keras
    ds = ds.map(
        lambda idx: (tf.cast(tf.gather(images_t, idx), tf.float32) / 255.0, tf.cast(tf.gather(labels_t, idx), tf.int32))
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(2).with_options(options)


def training_dataset(images: np.ndarray, labels: np.ndarray, global_batch: int, seed: int):
    """make_dataset's batches for training: shuffled anew each epoch, whole batches only.

    A short last batch would make the batch dimension unknown (None) to the compiled step, which cost batch
    norm 12-13% of its speed on a 2-core AVX2 CPU (docs/performance.md); so each epoch leaves out the fewer
    than global_batch images its permutation puts last, different ones each epoch, as flax's MNIST example
    and the codelab's notebooks do."""
    return make_dataset(images, labels, global_batch, shuffle=True, seed=seed, drop_remainder=True)


@dataclasses.dataclass(frozen=True)
class Datasets:
    """The images and labels this run uses, and their tf.data pipelines."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    train: tf.data.Dataset
    test: tf.data.Dataset

    @property
    def train_batches(self) -> int:
        """Whole batches an epoch, the steps of one epoch: the training dataset's own count."""
        return int(self.train.cardinality())


def check_sizes(config: Config, train_count: int, test_count: int, global_batch: int) -> None:
    """Refuse data that cannot make a model (DataError): fewer training images than one batch train no step, so the
    export would be an untrained model with metrics; no test image leaves nothing to measure it on."""
    where = f"{config.data_dir}" + (f" with --train-size {config.train_size}" if config.train_size else "")
    if train_count < global_batch:
        raise data.DataError(
            f"{where}: {train_count:,} training images, fewer than one batch of {global_batch:,}; "
            "pass more training data or a smaller --batch-size"
        )
    if test_count == 0:
        raise data.DataError(
            f"{config.data_dir}: no test images to evaluate on; pass a data dir whose test files hold some"
        )


def read_data(config: Config, placement: Placement, mnist: data.Mnist | None) -> Datasets:
    """Validated uint8 arrays in memory (config.data_dir's unless given), scaled on the fly by tf.data."""
    mnist = mnist or data.load_mnist(config.data_dir, config.cache_dir)
    for flag, asked, held in (("--train-size", config.train_size, len(mnist.train_images)),
                              ("--test-size", config.test_size, len(mnist.test_images))):  # fmt: skip
        if asked and asked > held:  # metrics.json records the counts used
            print(f"warning: {flag} {asked:,}: {config.data_dir} holds {held:,}; all of them are used", file=sys.stderr)
    train_x, train_y = mnist.train_images[: config.train_size], mnist.train_labels[: config.train_size]
    test_x, test_y = mnist.test_images[: config.test_size], mnist.test_labels[: config.test_size]
    check_sizes(config, len(train_x), len(test_x), placement.global_batch)
    import keras

    keras.utils.set_random_seed(config.seed)  # the same on every worker, so their shards are disjoint
    train = training_dataset(train_x, train_y, placement.global_batch, config.seed)
    test_batch = min(1000, len(test_x))  # every test image counts, but a TPU needs static shapes: never all of them
    test = make_dataset(test_x, test_y, test_batch, shuffle=False, drop_remainder=placement.kind == "tpu")
    datasets = Datasets(train_x, train_y, test_x, test_y, train, test)
    print(
        f"data: {len(train_x):,} training and {len(test_x):,} test digits from {config.data_dir}; "
        f"{datasets.train_batches:,} batches of {placement.global_batch:,} an epoch",
        flush=True,
    )
    return datasets
