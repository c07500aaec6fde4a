"""The codelab's five models ("Keras without a PhD") and the two beyond it, side by side; their defaults are
the stage table in trainer/stages.py.

Every model takes float32 images [batch, 28, 28] in [0, 1] named `image` and ends in a
float32 softmax over the ten digits (float32 even under a mixed-precision policy).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf
from keras import layers

from trainer.stages import CODELAB_STAGES, STAGES, Stage, resolve_stage

__all__ = ["BUILDERS", "CODELAB_STAGES", "STAGES", "Stage", "build", "build_model", "resolve_stage"]


def _input() -> list:
    return [keras.Input(shape=(28, 28), name="image")]


def _classifier() -> layers.Layer:
    return layers.Dense(10, activation="softmax", dtype="float32", name="digit")


def softmax(rate: float | None) -> keras.Model:
    return keras.Sequential([*_input(), layers.Flatten(), _classifier()], name="softmax")


def dense(rate: float | None) -> keras.Model:
    return keras.Sequential(
        [
            *_input(),
            layers.Flatten(),
            layers.Dense(200, activation="relu"),
            layers.Dense(60, activation="relu"),
            _classifier(),
        ],
        name="dense",
    )


def dropout(rate: float | None) -> keras.Model:
    return keras.Sequential(
        [
            *_input(),
            layers.Flatten(),
            layers.Dense(200, activation="relu"),
            layers.Dropout(rate),
            layers.Dense(100, activation="relu"),
            layers.Dropout(rate),
            layers.Dense(60, activation="relu"),
            layers.Dropout(rate),
            _classifier(),
        ],
        name="dropout",
    )


def conv(rate: float | None) -> keras.Model:
    return keras.Sequential(
        [
            *_input(),
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(12, 3, padding="same", activation="relu"),
            layers.Conv2D(24, 6, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 6, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(200, activation="relu"),
            _classifier(),
        ],
        name="conv",
    )


@keras.saving.register_keras_serializable(package="trainer")
class BatchNormalization(layers.BatchNormalization):
    """Keras's batch norm, trained on TensorFlow's fused kernel. Keras 3 normalizes op by op, which
    makes the batchnorm stage about 25% slower on a CPU (XLA would fuse it but is slower there).
    Same maths: statistics in float32, moving variance from the biased batch variance."""

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)  # the kernel takes [batch, height, width, channels]; [batch, features] is reshaped
        fused = (
            rank in (2, 4)
            and self.axis in (-1, rank - 1)
            and not (mask is not None or self.renorm or self.synchronized)
        )
        if not (training and self.trainable and fused):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, "float32")  # the kernel has no fast bfloat16 path on CPU
        if rank == 2:  # after a Dense layer
            x = x[:, None, None, :]
        scale = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        offset = self.beta if self.center else tf.zeros_like(self.moving_mean)
        y, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, epsilon=self.epsilon, is_training=True
        )
        n = tf.cast(tf.size(x) // tf.shape(x)[-1], "float32")
        variance = unbiased_variance * (n - 1) / n
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        return tf.cast(tf.reshape(y, tf.shape(inputs)), self.compute_dtype)


def _bn_relu() -> list:
    """The codelab's batch norm: shift but no scale (relu makes scale redundant), then relu."""
    return [BatchNormalization(center=True, scale=False), layers.Activation("relu")]


def batchnorm(rate: float | None) -> keras.Model:
    return keras.Sequential(
        [
            *_input(),
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(12, 3, padding="same", use_bias=False),
            *_bn_relu(),
            layers.Conv2D(24, 6, strides=2, padding="same", use_bias=False),
            *_bn_relu(),
            layers.Conv2D(32, 6, strides=2, padding="same", use_bias=False),
            *_bn_relu(),
            layers.Flatten(),
            layers.Dense(200, use_bias=False),
            *_bn_relu(),
            layers.Dropout(rate),
            _classifier(),
        ],
        name="batchnorm",
    )


# ---------------------------------------------------------------- beyond the codelab


def _conv_bn_relu(filters: int, size: int, strides: int = 1) -> list:
    return [layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False), *_bn_relu()]


def fast(rate: float | None) -> keras.Model:
    """Small and wide enough: 99% of the test digits in about one epoch on a laptop CPU."""
    return keras.Sequential(
        [
            *_input(),
            layers.Reshape((28, 28, 1)),
            *_conv_bn_relu(16, 5),
            layers.MaxPooling2D(),
            *_conv_bn_relu(32, 5),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(rate),
            _classifier(),
        ],
        name="fast",
    )


def best(rate: float | None) -> keras.Model:
    """The most accurate model this trainer trains in under 20 minutes on a 2-core CPU: random shifts,
    rotations and zooms of the training digits (off at inference), then five 3x3 conv + batch-norm
    layers and global average pooling."""
    return keras.Sequential(
        [
            *_input(),
            layers.Reshape((28, 28, 1)),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
            layers.RandomRotation(10 / 360, fill_mode="constant"),
            layers.RandomZoom(0.1, fill_mode="constant"),
            *_conv_bn_relu(24, 3),
            *_conv_bn_relu(24, 3),
            layers.MaxPooling2D(),
            *_conv_bn_relu(48, 3),
            *_conv_bn_relu(48, 3),
            layers.MaxPooling2D(),
            *_conv_bn_relu(96, 3),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(rate),
            _classifier(),
        ],
        name="best",
    )


# The stage table lives in trainer/stages.py, importable without TensorFlow; each stage's model is here.
BUILDERS: dict[str, Callable[[float | None], keras.Model]] = {
    "softmax": softmax, "dense": dense, "dropout": dropout, "conv": conv, "batchnorm": batchnorm, "fast": fast,
    "best": best,
}  # fmt: skip


def build(stage: Stage, rate: float | None) -> keras.Model:
    """The stage's model, uncompiled, with dropout `rate` (None for stages without dropout)."""
    return BUILDERS[stage.name](rate)


def learning_rate_for(stage: Stage, learning_rate: float, total_steps: int):
    """A constant lr for the exponential schedule (the lr_schedule callback steps it each epoch),
    or the per-batch one-cycle schedule."""
    if stage.lr_decay is not None:
        return learning_rate
    warmup = max(1, total_steps // 5)
    return keras.optimizers.schedules.CosineDecay(
        learning_rate / 10, decay_steps=max(1, total_steps - warmup), warmup_target=learning_rate, warmup_steps=warmup
    )


def optimizer(stage: Stage, learning_rate) -> keras.optimizers.Optimizer:
    return {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[stage.optimizer](learning_rate=learning_rate)


def build_model(
    stage: Stage,
    *,
    learning_rate,
    dropout: float | None,
    steps_per_execution: int = 1,
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """The stage's model, compiled with its optimizer for integer labels, ready for fit().

    Takes the stage, its learning rate (a float or a schedule), the dropout rate (None for stages
    without dropout), and Keras's steps_per_execution and jit_compile. Build it inside the
    distribution strategy's scope; under mixed_float16 Keras adds loss scaling itself."""
    model = build(stage, dropout)
    model.compile(
        optimizer=optimizer(stage, learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model
