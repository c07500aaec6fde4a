"""The stages and their training defaults, side by side: the codelab's five ("Keras without a PhD") and two
beyond it. Plain data, importable without TensorFlow, so the launcher checks a trainer's flags in milliseconds;
each stage's model is built by trainer.models.build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """A model with its training defaults. Exponential schedule: lr at epoch e = learning_rate * lr_decay**e.
    One-cycle schedule: a linear warm-up to learning_rate over the first fifth of the steps, then a cosine
    decay to zero, stepped every batch."""

    number: int
    name: str
    optimizer: str
    learning_rate: float
    lr_decay: float | None  # None: the one-cycle schedule
    batch_size: int
    epochs: int
    dropout: float | None  # None: the model has no dropout layer
    description: str


# fmt: off
STAGES = {s.name: s for s in [
    #     n  name         optimizer lr     decay  batch epochs dropout
    Stage(1, "softmax",   "sgd",    0.01,  1.0,   128,  10,    None, "Dense(10, softmax) on the 784 pixels"),
    Stage(2, "dense",     "adam",   0.001, 1.0,   128,  10,    None, "Dense 200 relu, 60 relu, 10 softmax"),
    Stage(3, "dropout",   "adam",   0.01,  0.6,   128,  10,    0.25, "Dense 200, 100, 60 relu, dropout after each"),
    Stage(4, "conv",      "adam",   0.01,  0.6,   128,  10,    None, "Conv 3x3x12, 6x6x24/2, 6x6x32/2, Dense 200"),
    Stage(5, "batchnorm", "adam",   0.01,  0.666, 64,   10,    0.3,  "conv stage with batch norm, dropout 0.3"),
    # Beyond the codelab: the fastest way to 99%, and the most accurate model in 20 CPU minutes.
    Stage(6, "fast",      "adam",   0.02,  None,  128,  2,     0.1,  "2 conv+BN+pool, one-cycle lr"),
    Stage(7, "best",      "adam",   0.005, None,  128,  45,    0.3,  "augmented 5-conv BN net, one-cycle lr"),
]}
# fmt: on
CODELAB_STAGES = [s for s in STAGES.values() if s.number <= 5]


def resolve_stage(value: str) -> Stage:
    """A stage by name or by its number."""
    for stage in STAGES.values():
        if value in (stage.name, str(stage.number)):
            return stage
    raise ValueError(f"unknown stage {value!r}; choose one of {', '.join(STAGES)} or 1-{len(STAGES)}")
