"""What a run tells the outside world: the lr schedule, timings and metrics.json."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import keras


def lr_schedule(learning_rate: float, decay: float) -> keras.callbacks.LearningRateScheduler:
    """The codelab's exponential decay, lr * decay**epoch; it adds `learning_rate` to each epoch's logs."""
    return keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate * decay**epoch)


class TrainingClock(keras.callbacks.Callback):
    """Seconds spent on training steps, without validation, so images/s measures training alone."""

    def __init__(self) -> None:
        super().__init__()
        self.train_seconds = 0.0
        self._start: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def _stop(self) -> None:
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self._start = None

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()


def epoch_records(history: keras.callbacks.History) -> list[dict]:
    """One dict per epoch: loss, accuracy, val_loss, val_accuracy, lr."""
    keys = {"loss": "loss", "accuracy": "accuracy", "val_loss": "val_loss", "val_accuracy": "val_accuracy", "learning_rate": "lr"}
    return [
        {"epoch": epoch + 1, **{short: float(history.history[k][i]) for k, short in keys.items() if k in history.history}}
        for i, epoch in enumerate(history.epoch)
    ]


def write_json(path: Path, data: dict) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(data, f, indent=2)
    os.replace(f.name, path)
