"""The stages' layers: the fused batch norm computes what Keras's own does."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from trainer import models


@pytest.mark.parametrize(
    "shape", [(64, 7, 7, 8), (64, 8), (16, 5, 3)], ids=["after a conv", "after a dense", "on a sequence (Keras path)"]
)
def test_fused_batch_norm_trains_and_infers_like_keras_batch_norm(shape):
    x = np.random.default_rng(0).normal(3.0, 2.0, shape).astype("float32")
    ours, keras_bn = (
        bn(scale=False, dtype="float32") for bn in (models.BatchNormalization, keras.layers.BatchNormalization)
    )
    for layer in (ours, keras_bn):
        layer.build(shape)
        layer.beta.assign(np.linspace(-1, 1, shape[-1]))
    np.testing.assert_allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean, keras_bn.moving_mean, rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance, keras_bn.moving_variance, rtol=1e-5)
    np.testing.assert_allclose(ours(x, training=False), keras_bn(x, training=False), atol=1e-4)


def test_fused_batch_norm_gradients_match_keras_batch_norm():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(0.5, 1.5, (32, 5, 5, 4)).astype("float32"))
    weights = tf.constant(rng.normal(0.0, 1.0, (32, 5, 5, 4)).astype("float32"))
    gradients = []
    for layer in (models.BatchNormalization(dtype="float32"), keras.layers.BatchNormalization(dtype="float32")):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for ours, theirs in zip(*gradients, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


def test_fused_batch_norm_keeps_the_mixed_precision_output_dtype():
    layer = models.BatchNormalization(dtype="mixed_bfloat16")
    assert layer(np.ones((4, 3, 3, 2), "float32"), training=True).dtype == "bfloat16"
