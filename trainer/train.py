"""One training run as a library: `train_and_evaluate(config)` checks the outputs, places the model,
reads the data, trains, evaluates and publishes.

Tests and notebooks call it in-process, passing data already in memory and a strategy of their own
(the seam TensorFlow Model Garden's `run(flags, datasets_override, strategy_override)` gives).
Failures are exceptions; `trainer.task` turns them into one line and an exit status.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence

import keras
import tensorflow as tf

from trainer import (
    cluster,
    data,
    distribution,
    export,
    models,
    pipeline,
    preemption,
    preflight,
    reporting,
    results,
    storage,
)
from trainer.config import Config


class LostPeer(Exception):
    """A worker stopped answering; the run must be resubmitted to resume from its backup."""


def place(config: Config, role: cluster.Role, strategy: tf.distribute.Strategy | None = None) -> distribution.Placement:
    """The strategy (config's, or the one given), precision and per-device settings. Must come before any other TensorFlow op."""
    gpus = tf.config.list_physical_devices("GPU")
    if strategy is None:
        kind = distribution.choose_strategy(
            config.distribute, tpu=config.tpu, environ=os.environ, num_gpus=len(gpus), accelerator=config.accelerator
        )
        strategy = distribution.make_strategy(kind, tpu=config.tpu, collective_timeout=config.peer_timeout)
    else:
        kind = "default" if strategy.num_replicas_in_sync == 1 else "mirrored"
    replicas = strategy.num_replicas_in_sync
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus]
    precision = distribution.choose_precision(
        config.precision,
        strategy=kind,
        gpu_compute_capabilities=capabilities,
        cpu_bfloat16=distribution.cpu_supports_bfloat16(),
    )
    keras.mixed_precision.set_global_policy(precision)
    steps = distribution.choose_steps_per_execution(config.steps_per_execution, strategy=kind, num_gpus=len(gpus))
    placement = distribution.Placement(
        strategy,
        kind,
        precision,
        config.batch_size * replicas,
        config.learning_rate * (replicas if config.scale_lr else 1),
        steps,
    )
    print(
        f"{distribution.describe(strategy, kind, num_workers=role.num_tasks, num_gpus=len(gpus))}, {precision}, "
        f"global batch {placement.global_batch}, {steps} step{'s' if steps > 1 else ''} per execution",
        flush=True,
    )
    return placement


@dataclasses.dataclass(frozen=True)
class Watchers:
    """The trainer's own callbacks, in the order they must run, and the ones read after training."""

    callbacks: list[keras.callbacks.Callback]
    clock: reporting.TrainingClock
    epoch_log: reporting.EpochLog
    backup: preemption.Backup
    hypertune: reporting.HypertuneReporter | None


def _epochs(count: int) -> str:
    return f"{count} epoch{'s' if count != 1 else ''}"


def build_model(config: Config, placement: distribution.Placement, train_batches: int) -> keras.Model:
    """The stage's model under the strategy, its learning-rate schedule spanning every step of the run."""
    total_steps = train_batches * config.epochs
    with placement.strategy.scope():
        model = models.build_model(
            config.stage,
            learning_rate=models.learning_rate_for(config.stage, placement.learning_rate, total_steps),
            dropout=config.dropout,
            steps_per_execution=placement.steps_per_execution,
            jit_compile=distribution.jit_compile(config.xla),
        )
    schedule = f"x {config.lr_decay:g}^epoch" if config.lr_decay is not None else "one-cycle"
    print(
        f"stage {config.stage.number} {config.stage.name}: {model.count_params():,} parameters, "
        f"{_epochs(config.epochs)}, batch {placement.global_batch}, {config.stage.optimizer} lr {placement.learning_rate:g} {schedule}"
        + (f", dropout {config.dropout:g}" if config.dropout is not None else ""),
        flush=True,
    )
    return model


def watchers(config: Config, role: cluster.Role, placement: distribution.Placement, train_batches: int) -> Watchers:
    """What is reported while it trains; in this order: the lr and the guard see an epoch before it is logged,
    logged before it is backed up. The chief alone writes TensorBoard events and the tuning metric."""
    backup_dir = storage.join(config.checkpoint_dir, "backup" if role.is_chief else f"backup-{role.name}")
    clock, epoch_log = reporting.TrainingClock(train_batches * placement.global_batch), reporting.EpochLog()
    backup = preemption.Backup(backup_dir, epoch_log, {"stage": config.stage.name})
    lr: keras.callbacks.Callback = (
        reporting.lr_schedule(placement.learning_rate, config.lr_decay)
        if config.lr_decay is not None
        else reporting.LearningRateLog()
    )
    callbacks = [lr, reporting.DivergenceGuard(), clock, epoch_log, backup]
    hypertune = reporting.HypertuneReporter(config.hypertune_metric) if role.is_chief else None
    if hypertune:
        callbacks += [reporting.tensorboard(config.tensorboard_dir), hypertune]
    return Watchers(callbacks, clock, epoch_log, backup, hypertune)


def fit(
    config: Config, role: cluster.Role, model: keras.Model, datasets: pipeline.Datasets, w: Watchers, extra: Sequence
) -> tuple[float, float]:
    """Train (the progress bar on a terminal, one line per epoch in a log), then evaluate: the test loss and accuracy.
    A SIGTERM, a lost peer or a failed write becomes one of our errors, saying how to resume."""
    try:
        with preemption.stop_on_sigterm() as stop:
            model.fit(
                datasets.train,
                epochs=config.epochs,
                validation_data=datasets.test,
                callbacks=[*w.callbacks, *extra, stop],
                shuffle=False,  # tf.data already reshuffles every epoch; this only silences Keras' reminder
                verbose=1 if sys.stdout.isatty() else 2,
            )
        test_loss, test_accuracy = model.evaluate(datasets.test, verbose=0)
        return float(test_loss), float(test_accuracy)
    except preemption.Terminated as e:
        last = w.backup.last_epoch
        kept = f"the backup after epoch {last} is kept" if last else "no epoch was backed up yet"
        raise preemption.Terminated(f"{e}; {kept} in {w.backup.backup_dir}: rerun the same command to resume") from None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        lost = sorted({f"{t}-{i}" for t, i in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(e))} - {role.name})
        raise LostPeer(
            f"{role.name} lost contact with {', '.join(lost) or 'another worker'} ({type(e).__name__}); "
            "rerun the job to resume from the last backed-up epoch"
        ) from None
    except (tf.errors.OpError, OSError) as e:  # e.g. TensorBoard's writer on a disk that filled up
        raise storage.StorageError(f"while training: {storage.cause(e)}") from None


def publish(
    config: Config,
    role: cluster.Role,
    model: keras.Model,
    placement: distribution.Placement,
    datasets: pipeline.Datasets,
    w: Watchers,
    test_metrics: tuple[float, float],
    started: float,
) -> results.Result:
    """The model where Vertex AI serves it from; the metric, metrics.json and plots from the chief only. Returns the
    run's Result, its wall time including the export."""
    if role.is_chief:
        export.export_model(model, config.model_dir, {"stage": config.stage.name})
    else:  # every worker must take part in the export; only the chief's is kept
        with tempfile.TemporaryDirectory(prefix=f"model-{role.name}-") as scratch:
            export.export_model(model, os.path.join(scratch, "model"))
    train_count, test_count = len(datasets.train_x), len(datasets.test_x)
    result = results.Result(model, placement, role, train_count, test_count, w.epoch_log.records, *test_metrics,
                            w.clock.train_seconds, w.clock.images_per_second, time.perf_counter() - started)  # fmt: skip
    if role.is_chief:
        results.publish(config, result, w.hypertune, datasets.test_x[:100], datasets.test_y[:100])
    summary = (
        f"done: stage {config.stage.name}, {_epochs(config.epochs)}, test accuracy {result.test_accuracy:.2%}, "
        f"{result.wall_seconds:.1f} s, {result.images_per_second:,.0f} images/s"
    )
    print(f"{summary}, outputs in {config.job_dir}" if role.is_chief else f"{summary} ({role.name})", flush=True)
    return result


def train_and_evaluate(
    config: Config,
    *,
    mnist: data.Mnist | None = None,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> results.Result:
    """Train config.stage and publish its outputs; returns the Result.

    mnist: the data, instead of reading config.data_dir; strategy: instead of choosing one from config
    and the environment (TF_CONFIG, CLUSTER_SPEC, the TPU variables); callbacks: more Keras callbacks, after
    the trainer's own (benchmarks time the loop that ships with them). Raises preflight.PreflightError, data.DataError,
    preemption.IncompatibleBackup (bad input), distribution.AcceleratorMissing, reporting.TrainingDiverged,
    storage.StorageError, LostPeer, preemption.Terminated (SIGTERM).
    """
    started = time.perf_counter()
    if mnist is not None:
        config = dataclasses.replace(config, data_dir="arrays in memory")
    role = cluster.task_role(os.environ)
    preflight.check_hardware(config)  # seconds in: a GPU or TPU job that cannot see its hardware must not use the CPU
    preflight.check_outputs(config, role)  # before anything slow: a run that cannot save its outputs must not train
    policy = keras.mixed_precision.global_policy()  # place() sets it process-wide: a caller in-process gets it back
    try:
        placement = place(config, role, strategy)
        if config.trial_id:
            print(f"hyperparameter tuning trial {config.trial_id}", flush=True)
        if not role.is_chief:  # the usual multi-worker pattern: only the chief publishes
            print(f"{role.name}: not the chief; the model goes to a temporary folder, no metrics or plots", flush=True)
        datasets = pipeline.read_data(config, placement, mnist)
        model = build_model(config, placement, datasets.train_batches)
        w = watchers(config, role, placement, datasets.train_batches)
        test_metrics = fit(config, role, model, datasets, w, callbacks)
        return publish(config, role, model, placement, datasets, w, test_metrics, started)
    finally:
        keras.mixed_precision.set_global_policy(policy)
