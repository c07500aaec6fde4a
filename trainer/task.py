"""Train one stage of the codelab on MNIST: `python -m trainer.task --stage batchnorm`.

Run locally, in a container, or as a Vertex AI custom job or tuning trial. Every
hyperparameter defaults to the stage's codelab value and can be overridden by a flag.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of job logs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainer import data, distribution, export, models, plots, preemption, preflight, reporting, storage  # noqa: E402


def _positive(kind):
    """A parser for numbers > 0. Integers may be written 64.0: tuning services send discrete values as floats."""

    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if kind is int and not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return kind(value)

    return parse


def _fraction(text: str) -> float:
    value = _positive(float)(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _decay(text: str) -> float:
    value = _positive(float)(text)
    if not value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _stage(text: str) -> models.Stage:
    try:
        return models.resolve_stage(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(env) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.splitlines()[0])
    p.add_argument("--stage", type=_stage, default="batchnorm", help="softmax, dense, dropout, conv, batchnorm (the codelab's 1-5), fast or best (default: batchnorm)")
    p.add_argument("--list-stages", action="store_true", help="print the stages with their defaults and parameter counts, then exit")
    p.add_argument("--smoke", action="store_true", help="1 epoch on the small MNIST sample shipped in the package; no network")
    io = p.add_argument_group("data and outputs (local paths, gs:// or /gcs/ URIs)")
    io.add_argument("--data-dir", default=data.DEFAULT_DATA_DIR, help="the four MNIST files (default: %(default)s)")
    io.add_argument("--cache-dir", type=Path, default=data.DEFAULT_CACHE_DIR, help="where files downloaded from Cloud Storage are kept (default: %(default)s)")
    io.add_argument("--job-dir", help="metrics.json and plots (default: the parent of $AIP_MODEL_DIR, else runs/STAGE)")
    io.add_argument("--model-dir", help="the exported SavedModel and model.keras (default: $AIP_MODEL_DIR, else JOB_DIR/model)")
    io.add_argument("--checkpoint-dir", help="backups to resume from after preemption (default: $AIP_CHECKPOINT_DIR, else JOB_DIR/checkpoints)")
    io.add_argument("--tensorboard-dir", help="TensorBoard events (default: $AIP_TENSORBOARD_LOG_DIR, else JOB_DIR/logs)")
    io.add_argument("--hypertune-metric", default="accuracy", help="the tag validation accuracy is reported under; must match the study's metricId (default: %(default)s)")
    io.add_argument("--no-plots", dest="plots", action="store_false", help="do not write the PNG plots")
    dist = p.add_argument_group("distribution and speed")
    dist.add_argument("--distribute", choices=distribution.STRATEGIES, default="auto",
                      help="auto: TPU if configured, several workers if TF_CONFIG/CLUSTER_SPEC lists them, several GPUs if visible, else one device")
    dist.add_argument("--tpu", help="TPU name or address for TPUStrategy (default: $TPU_NAME, or the local TPU VM)")
    dist.add_argument("--precision", choices=distribution.PRECISIONS, default="auto", help="auto: bfloat16 on TPU and on CPUs with native bfloat16, float16 on GPUs with tensor cores, else float32")
    dist.add_argument("--steps-per-execution", type=_positive(int), help="training steps per call into TensorFlow (default: 50 on TPU, else 8)")
    dist.add_argument("--xla", choices=("auto", "on", "off"), default="auto", help="XLA compilation of the train step (auto: on GPU and TPU)")
    dist.add_argument("--scale-lr", action="store_true", help="multiply the learning rate by the number of replicas")
    dist.add_argument("--peer-timeout", type=_positive(float), default=300.0, help="seconds a worker waits for its peers before failing (default: %(default)s)")
    hp = p.add_argument_group("hyperparameters (default: the stage's codelab values)")
    hp.add_argument("--epochs", type=_positive(int))
    hp.add_argument("--batch-size", type=_positive(int), help="per replica; the global batch is this times the replicas")
    hp.add_argument("--learning-rate", type=_positive(float))
    hp.add_argument("--lr-decay", type=_decay, help="the lr is multiplied by this after every epoch")
    hp.add_argument("--dropout", type=_fraction, help="dropout rate, for stages that have dropout layers")
    hp.add_argument("--seed", type=int, default=1, help="seeds weights and shuffling (default: %(default)s)")
    hp.add_argument("--train-size", type=_positive(int), help="train on the first N training images only")
    hp.add_argument("--test-size", type=_positive(int), help="evaluate on the first N test images only")
    return p


def trainer_flags() -> set[str]:
    """Every flag the trainer accepts, e.g. to check a tuning study's parameter names."""
    return {flag for action in build_parser({})._actions for flag in action.option_strings}


def parse_args(argv: list[str] | None = None, environ: dict | None = None) -> argparse.Namespace:
    """Flags, with Vertex AI's environment variables as the defaults for where outputs go."""
    env = os.environ if environ is None else environ
    p = build_parser(env)
    args = p.parse_args(argv)
    stage = args.stage
    if args.dropout is not None and stage.dropout is None:
        p.error(f"argument --dropout: stage {stage.name} has no dropout layer")
    if args.lr_decay is not None and stage.lr_decay is None:
        p.error(f"argument --lr-decay: stage {stage.name} uses a one-cycle schedule, not an exponential decay")
    for name in ("epochs", "batch_size", "learning_rate", "lr_decay", "dropout"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(stage, name))
    if args.smoke:
        args.data_dir, args.epochs = str(data.SAMPLE_DIR), 1
    # Each output folder comes from its flag, else Vertex AI's variable, else the job dir; where it came
    # from is kept for error messages.
    args.sources = {"job_dir": "--job-dir"}
    if args.job_dir is None:
        args.job_dir = os.path.dirname(env["AIP_MODEL_DIR"].rstrip("/")) if env.get("AIP_MODEL_DIR") else os.path.join("runs", stage.name)
        args.sources["job_dir"] = "the job dir (from $AIP_MODEL_DIR)" if env.get("AIP_MODEL_DIR") else "the job dir"
    for name, variable, default in (("model_dir", "AIP_MODEL_DIR", "model"), ("checkpoint_dir", "AIP_CHECKPOINT_DIR", "checkpoints"),
                                    ("tensorboard_dir", "AIP_TENSORBOARD_LOG_DIR", "logs")):
        flag = "--" + name.replace("_", "-")
        if getattr(args, name):
            args.sources[name] = flag
        elif env.get(variable):
            setattr(args, name, env[variable])
            args.sources[name] = f"${variable}"
        else:
            setattr(args, name, storage.join(args.job_dir, default))
            args.sources[name] = f"{flag} (default: JOB_DIR/{default})"
    return args


def list_stages() -> None:
    print(f"{'#':>2}  {'stage':<10} {'params':>8}  {'optimizer':<9} {'lr':>6} {'decay':>6} {'batch':>5} {'epochs':>6} {'dropout':>7}  layers")
    for s in models.STAGES.values():
        params = s.build(s.dropout).count_params()
        dropout = "-" if s.dropout is None else s.dropout
        decay = "1cycle" if s.lr_decay is None else s.lr_decay
        print(f"{s.number:>2}  {s.name:<10} {params:>8,}  {s.optimizer:<9} {s.learning_rate:>6} {decay:>6} {s.batch_size:>5} {s.epochs:>6} {dropout:>7}  {s.description}")


@dataclass(frozen=True)
class Placement:
    """Where the model trains and what that implies for the batch, precision and learning rate."""

    strategy: tf.distribute.Strategy
    kind: str
    precision: str
    global_batch: int
    learning_rate: float
    steps_per_execution: int


def place(args: argparse.Namespace, role: distribution.Role) -> Placement:
    """The strategy, precision and per-device settings. Must come before any other TensorFlow op."""
    gpus = tf.config.list_physical_devices("GPU")
    kind = distribution.choose_strategy(args.distribute, tpu=args.tpu, environ=os.environ, num_gpus=len(gpus))
    strategy = distribution.make_strategy(kind, tpu=args.tpu, collective_timeout=args.peer_timeout)
    replicas = strategy.num_replicas_in_sync
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus]
    precision = distribution.choose_precision(args.precision, strategy=kind, gpu_compute_capabilities=capabilities,
                                              cpu_bfloat16=distribution.cpu_supports_bfloat16())
    keras.mixed_precision.set_global_policy(precision)
    steps_per_execution = distribution.choose_steps_per_execution(args.steps_per_execution, strategy=kind, num_gpus=len(gpus))
    placement = Placement(strategy, kind, precision, args.batch_size * replicas,
                          args.learning_rate * (replicas if args.scale_lr else 1), steps_per_execution)
    print(f"{distribution.describe(strategy, kind, num_workers=role.num_tasks, num_gpus=len(gpus))}, {precision}, "
          f"global batch {placement.global_batch}, {steps_per_execution} step{'s' if steps_per_execution > 1 else ''} per execution",
          flush=True)
    return placement


def metrics_record(args: argparse.Namespace, role: distribution.Role, placement: Placement, *, trial_id: str | None,
                   train_images: int, test_images: int, epochs: list, test_loss: float, test_accuracy: float,
                   clock: reporting.TrainingClock, wall: float) -> dict:
    """What metrics.json holds: the run's settings and its results, for people and for tuning scripts."""
    return {
        "stage": args.stage.name,
        "stage_number": args.stage.number,
        "trial_id": trial_id,
        "hyperparameters": {
            "epochs": args.epochs,
            "batch_size": placement.global_batch,
            "batch_size_per_replica": args.batch_size,
            "optimizer": args.stage.optimizer,
            "learning_rate": placement.learning_rate,
            "lr_decay": args.lr_decay,
            "dropout": args.dropout,
            "seed": args.seed,
        },
        "distribution": {"strategy": placement.kind, "replicas": placement.strategy.num_replicas_in_sync, "workers": role.num_tasks,
                         "precision": placement.precision, "steps_per_execution": placement.steps_per_execution},
        "data": {"data_dir": args.data_dir, "train_images": train_images, "test_images": test_images},
        "epochs": epochs,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "train_seconds": clock.train_seconds,
        "wall_seconds": wall,
        "images_per_second": clock.images_per_second,
        "model_dir": args.model_dir,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_stages:
        list_stages()
        return 0
    started = time.perf_counter()
    stage = args.stage
    role = distribution.task_role(os.environ)
    try:  # before anything slow: a run that cannot save its outputs must not train
        check_outputs(args, role)
    except preflight.PreflightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    placement = place(args, role)
    trial_id = os.environ.get("CLOUD_ML_TRIAL_ID")
    if trial_id:
        print(f"hyperparameter tuning trial {trial_id}", flush=True)
    if not role.is_chief:  # the usual multi-worker pattern: only the chief publishes
        print(f"{role.name}: not the chief; the model goes to a temporary folder, no metrics or plots", flush=True)

    # Data: validated uint8 arrays in memory, scaled on the fly by tf.data.
    try:
        mnist = data.load_mnist(args.data_dir, args.cache_dir)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    train_x, train_y = mnist.train_images[: args.train_size], mnist.train_labels[: args.train_size]
    test_x, test_y = mnist.test_images[: args.test_size], mnist.test_labels[: args.test_size]
    keras.utils.set_random_seed(args.seed)  # the same on every worker, so their shards are disjoint
    static_shapes = placement.kind == "tpu"
    train_ds = data.make_dataset(train_x, train_y, placement.global_batch, shuffle=True, seed=args.seed, drop_remainder=static_shapes)
    test_ds = data.make_dataset(test_x, test_y, 1000, shuffle=False, drop_remainder=static_shapes)
    print(f"data: {len(train_x):,} training and {len(test_x):,} test digits from {args.data_dir}", flush=True)

    # Model, schedule, and what is reported while it trains.
    total_steps = math.ceil(len(train_x) / placement.global_batch) * args.epochs
    with placement.strategy.scope():
        model = models.build_model(stage, learning_rate=models.learning_rate_for(stage, placement.learning_rate, total_steps),
                                   dropout=args.dropout, steps_per_execution=placement.steps_per_execution,
                                   jit_compile=distribution.jit_compile(args.xla))
    backup_dir = storage.join(args.checkpoint_dir, "backup" if role.is_chief else f"backup-{role.name}")
    clock = reporting.TrainingClock(len(train_x))
    epoch_log = reporting.EpochLog()
    backup = preemption.Backup(backup_dir, epoch_log, {"stage": stage.name})
    callbacks = [  # in this order: the lr and the guard see an epoch before it is logged, logged before it is backed up
        reporting.lr_schedule(placement.learning_rate, args.lr_decay) if args.lr_decay is not None else reporting.LearningRateLog(),
        reporting.DivergenceGuard(),
        clock,
        epoch_log,
        backup,
    ]
    hypertune = reporting.HypertuneReporter(args.hypertune_metric) if role.is_chief else None
    if role.is_chief:
        callbacks += [reporting.tensorboard(args.tensorboard_dir), hypertune]
    print(
        f"stage {stage.number} {stage.name}: {model.count_params():,} parameters, {args.epochs} epochs, batch {placement.global_batch}, "
        f"{stage.optimizer} lr {placement.learning_rate:g} " + (f"x {args.lr_decay:g}^epoch" if args.lr_decay is not None else "one-cycle")
        + (f", dropout {args.dropout:g}" if args.dropout is not None else ""),
        flush=True,
    )

    # Train: the progress bar on a terminal, one line per epoch in a log.
    try:
        with preemption.stop_on_sigterm() as stop:
            model.fit(
                train_ds,
                epochs=args.epochs,
                validation_data=test_ds,
                callbacks=[*callbacks, stop],
                shuffle=False,  # tf.data already reshuffles every epoch; this only silences Keras' reminder
                verbose=1 if sys.stdout.isatty() else 2,
            )
        test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    except preemption.Terminated as e:
        kept = f"the backup after epoch {backup.last_epoch} is kept" if backup.last_epoch else "no epoch was backed up yet"
        print(f"stopped: {e}; {kept} in {backup_dir}: rerun the same command to resume", file=sys.stderr, flush=True)
        return 143  # 128 + SIGTERM, as if the signal had ended the process
    except preemption.IncompatibleBackup as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (reporting.TrainingDiverged, storage.StorageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        lost = sorted({f"{t}-{i}" for t, i in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(e))} - {role.name})
        print(f"error: {role.name} lost contact with {', '.join(lost) or 'another worker'} ({type(e).__name__}); "
              f"rerun the job to resume from the last backed-up epoch", file=sys.stderr)
        return 1
    except (tf.errors.OpError, OSError) as e:  # e.g. TensorBoard's writer on a disk that filled up
        print(f"error: while training: {storage.cause(e)}", file=sys.stderr)
        return 1

    try:
        return publish(args, role, model, placement, started=started, trial_id=trial_id, test_x=test_x, test_y=test_y,
                       epoch_log=epoch_log, test_loss=test_loss, test_accuracy=test_accuracy, clock=clock, hypertune=hypertune)
    except storage.StorageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def check_outputs(args: argparse.Namespace, role: distribution.Role) -> None:
    """Preflight every folder this process writes; only the chief probes what only the chief writes."""
    checkpoints = preflight.Output(args.checkpoint_dir, args.sources["checkpoint_dir"])
    if not role.is_chief:
        return preflight.check(None, [checkpoints])
    metric_file = os.environ.get("CLOUD_ML_HP_METRIC_FILE")
    metric_folder = preflight.Output(os.path.dirname(metric_file) if metric_file else "/tmp/hypertune",
                                     "$CLOUD_ML_HP_METRIC_FILE" if metric_file else "the tuning metric folder (cloudml-hypertune's default)")
    preflight.check(preflight.Output(args.model_dir, args.sources["model_dir"]),
                    [preflight.Output(args.job_dir, args.sources["job_dir"]), checkpoints,
                     preflight.Output(args.tensorboard_dir, args.sources["tensorboard_dir"]), metric_folder])


def publish(args, role, model, placement, *, started, trial_id, test_x, test_y, epoch_log, test_loss, test_accuracy, clock, hypertune) -> int:
    """Outputs: the model where Vertex AI serves it from; metrics and plots from the chief only."""
    stage = args.stage
    if role.is_chief:
        export.export_model(model, args.model_dir, {"stage": stage.name})
    else:  # every worker must take part in the export; only the chief's is kept
        with tempfile.TemporaryDirectory(prefix=f"model-{role.name}-") as scratch:
            export.export_model(model, os.path.join(scratch, "model"))
    wall = time.perf_counter() - started
    summary = (f"done: stage {stage.name}, {args.epochs} epochs, test accuracy {test_accuracy:.2%}, "
               f"{wall:.1f} s, {clock.images_per_second:,.0f} images/s")
    if not role.is_chief:
        print(f"{summary} ({role.name})", flush=True)
        return 0
    try:
        hypertune.report(test_accuracy, args.epochs)
    except OSError as e:
        raise storage.StorageError(f"cannot write the tuning metric file: {storage.cause(e)}") from None
    metrics = metrics_record(args, role, placement, trial_id=trial_id, train_images=clock.images_per_epoch, test_images=len(test_x),
                             epochs=epoch_log.records, test_loss=test_loss, test_accuracy=test_accuracy, clock=clock, wall=wall)
    storage.write_file(storage.join(args.job_dir, "metrics.json"), json.dumps(metrics, indent=2).encode())
    if args.plots:
        title = f"stage {stage.number} {stage.name}: test accuracy {test_accuracy:.2%}"
        storage.write_file(storage.join(args.job_dir, "curves.png"), plots.training_curves(epoch_log.records, title))
        sample_x, sample_y = test_x[:100], test_y[:100]
        # A direct call, not predict(): under multi-worker training predict() would wait for the other workers.
        predictions = np.argmax(model(sample_x.astype("float32") / 255.0, training=False), axis=-1)
        storage.write_file(storage.join(args.job_dir, "digits.png"), plots.digit_grid(sample_x, sample_y, predictions))
    print(f"{summary}, outputs in {args.job_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
