"""What a run tells the outside world while it trains: lr schedule, epoch records, timings,
TensorBoard, Vertex AI hyperparameter-tuning metrics, and a loud stop when training diverges."""

from __future__ import annotations

import math
import sys
import time

import keras


def lr_schedule(learning_rate: float, decay: float) -> keras.callbacks.LearningRateScheduler:
    """The codelab's exponential decay, lr * decay**epoch; it adds `learning_rate` to each epoch's logs.
    Keyed by the epoch number, so a run resumed from a backup continues the schedule where it stopped."""
    return keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate * decay**epoch)


class LearningRateLog(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to each epoch's logs, for schedules stepped every batch."""

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class TrainingClock(keras.callbacks.Callback):
    """Seconds and images spent on training steps, without validation, so images/s measures training alone."""

    def __init__(self, images_per_epoch: int) -> None:
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.train_seconds = 0.0
        self.images = 0
        self._start: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def _stop(self) -> None:
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self.images += self.images_per_epoch
            self._start = None

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    @property
    def images_per_second(self) -> float:
        return self.images / self.train_seconds if self.train_seconds else 0.0


class EpochLog(keras.callbacks.Callback):
    """Per-epoch loss, accuracy, val_loss, val_accuracy, lr and elapsed seconds. preemption.Backup saves
    the records with each backup and puts them back on resume, so metrics.json lists every epoch."""

    KEYS = {
        "loss": "loss",
        "accuracy": "accuracy",
        "val_loss": "val_loss",
        "val_accuracy": "val_accuracy",
        "learning_rate": "lr",
    }

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {
            "epoch": epoch + 1,
            **{short: float(logs[k]) for k, short in self.KEYS.items() if k in logs},
            "seconds": time.perf_counter() - self._start,
        }  # since this process started training
        self.records.append(record)


class HypertuneReporter(keras.callbacks.Callback):
    """Reports validation accuracy to Vertex AI hyperparameter tuning after every epoch (step = epoch number)."""

    def __init__(self, metric_tag: str) -> None:
        super().__init__()
        import hypertune

        self.metric_tag = metric_tag
        self._hpt = hypertune.HyperTune()  # one instance: it rewrites the metric file with all it has reported

    def report(self, value: float, step: int) -> None:
        self._hpt.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=self.metric_tag, metric_value=value, global_step=step
        )

    def on_epoch_end(self, epoch, logs=None):
        self.report(logs["val_accuracy"], epoch + 1)


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the run must fail rather than report garbage."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is not finite, and warns once when a full epoch
    ends at chance level: a ReLU network that has collapsed to one answer (the codelab's conv stage
    does with some seeds) does not recover. A warning, not a failure: a tuning trial must still
    report its metric."""

    CHANCE = 0.2  # ten digits: 10% is chance; a working model passes 90% within its first epoch
    MIN_STEPS = 100  # short epochs (quick runs on a few hundred digits) can end anywhere

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self._steps = 0
        self._warned = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._steps = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: loss is {loss} at epoch {self._epoch + 1}, batch {batch + 1}; try a lower --learning-rate"
            )

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("accuracy")
        if accuracy is not None and accuracy < self.CHANCE and self._steps >= self.MIN_STEPS and not self._warned:
            self._warned = True
            print(
                f"warning: training accuracy is {accuracy:.1%} after epoch {epoch + 1}, about chance: the network has "
                f"collapsed and will not recover; try a lower --learning-rate or another --seed",
                file=sys.stderr,
                flush=True,
            )


def tensorboard(log_dir: str) -> keras.callbacks.TensorBoard:
    """Per-epoch loss, accuracy, val metrics and learning rate, for TensorBoard or Vertex AI TensorBoard."""
    return keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch", write_graph=False, profile_batch=0)
