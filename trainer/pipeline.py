"""The tf.data input pipeline: batches of scaled images from the uint8 arrays trainer.data reads."""

from __future__ import annotations

import numpy as np


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
