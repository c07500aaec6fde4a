"""The stages' layers: the fused batch norm computes what Keras's own does; a trainer process trains on oneDNN."""

from __future__ import annotations

import os
import subprocess
import sys

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


@pytest.mark.parametrize("setting, enabled", [(None, True), ("0", False)], ids=["by default", "unless told not to"])
def test_a_trainer_process_trains_on_tensorflows_onednn_kernels(setting, enabled):
    """A child process: TensorFlow reads the setting once, when it is first imported. On an AVX2-only CPU its own
    default is off, which made the conv stages train 1.35-2.4x slower (docs/performance.md)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env |= {"TF_ENABLE_ONEDNN_OPTS": setting} if setting else {}
    probe = "import trainer.task; from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(enabled)]
