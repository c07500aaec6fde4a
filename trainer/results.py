"""What a finished run gives back and publishes: the trained model with its measurements, the final
tuning metric, metrics.json (for people and tuning scripts) and the two plots."""

from __future__ import annotations

import json
from dataclasses import dataclass

import keras
import numpy as np

from trainer import cluster, distribution, plots, reporting, storage
from trainer.config import Config


@dataclass(frozen=True)
class Result:
    """What a finished run gives back: the trained model and its measurements."""

    model: keras.Model
    placement: distribution.Placement
    role: cluster.Role
    train_images: int
    test_images: int
    epochs: list[dict]
    test_loss: float
    test_accuracy: float
    train_seconds: float
    images_per_second: float
    wall_seconds: float


def publish(
    config: Config,
    result: Result,
    hypertune: reporting.HypertuneReporter | None,
    sample_x: np.ndarray,
    sample_y: np.ndarray,
) -> None:
    """The chief's reports: the final metric for tuning, metrics.json, and the plots."""
    try:
        hypertune.report(result.test_accuracy, config.epochs)
    except OSError as e:
        raise storage.StorageError(f"cannot write the tuning metric file: {storage.cause(e)}") from None
    storage.write_file(
        storage.join(config.job_dir, "metrics.json"), json.dumps(metrics_record(config, result), indent=2).encode()
    )
    if config.plots:
        title = f"stage {config.stage.number} {config.stage.name}: test accuracy {result.test_accuracy:.2%}"
        storage.write_file(storage.join(config.job_dir, "curves.png"), plots.training_curves(result.epochs, title))
        # A direct call, not predict(): under multi-worker training predict() would wait for the other workers.
        predictions = np.argmax(result.model(sample_x.astype("float32") / 255.0, training=False), axis=-1)
        storage.write_file(
            storage.join(config.job_dir, "digits.png"), plots.digit_grid(sample_x, sample_y, predictions)
        )


def metrics_record(config: Config, result: Result) -> dict:
    """What metrics.json holds: the run's settings and its results, for people and for tuning scripts."""
    placement = result.placement
    return {
        "stage": config.stage.name,
        "stage_number": config.stage.number,
        "trial_id": config.trial_id,
        "image": config.image,  # the image the job ran, as the launcher sent it (None outside a job's container)
        "hyperparameters": {
            "epochs": config.epochs,
            "batch_size": placement.global_batch,
            "batch_size_per_replica": config.batch_size,
            "optimizer": config.stage.optimizer,
            "learning_rate": placement.learning_rate,
            "lr_decay": config.lr_decay,
            "dropout": config.dropout,
            "seed": config.seed,
        },
        "distribution": {
            "strategy": placement.kind,
            "replicas": placement.strategy.num_replicas_in_sync,
            "workers": result.role.num_tasks,
            "precision": placement.precision,
            "steps_per_execution": placement.steps_per_execution,
        },
        "data": {"data_dir": config.data_dir, "train_images": result.train_images, "test_images": result.test_images},
        "epochs": result.epochs,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "train_seconds": result.train_seconds,
        "wall_seconds": result.wall_seconds,
        "images_per_second": result.images_per_second,
        "model_dir": config.model_dir,
    }
