"""Train one stage of the codelab on MNIST: `python -m trainer.task --stage batchnorm`.

Run locally, in a container, or as a Vertex AI custom job or tuning trial. Every
hyperparameter defaults to the stage's codelab value and can be overridden by a flag.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of job logs

from trainer import data, models  # noqa: E402


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.splitlines()[0])
    p.add_argument("--stage", type=_stage, default="batchnorm", help="softmax, dense, dropout, conv, batchnorm, or 1-5 (default: batchnorm)")
    p.add_argument("--list-stages", action="store_true", help="print the stages with their defaults and parameter counts, then exit")
    p.add_argument("--data-dir", default=data.DEFAULT_DATA_DIR, help="gs://BUCKET/PREFIX, /gcs/BUCKET/PREFIX or a local folder with the four MNIST files (default: %(default)s)")
    p.add_argument("--cache-dir", type=Path, default=data.DEFAULT_CACHE_DIR, help="where files downloaded from Cloud Storage are kept (default: %(default)s)")
    p.add_argument("--job-dir", type=Path, default=None, help="where metrics.json and model.keras go (default: runs/STAGE)")
    p.add_argument("--smoke", action="store_true", help="1 epoch on the small MNIST sample shipped in the package; no network")
    hp = p.add_argument_group("hyperparameters (default: the stage's codelab values)")
    hp.add_argument("--epochs", type=_positive(int))
    hp.add_argument("--batch-size", type=_positive(int))
    hp.add_argument("--learning-rate", type=_positive(float))
    hp.add_argument("--lr-decay", type=_decay, help="the lr is multiplied by this after every epoch")
    hp.add_argument("--dropout", type=_fraction, help="dropout rate, for stages that have dropout layers")
    hp.add_argument("--seed", type=int, default=1, help="seeds weights and shuffling (default: %(default)s)")
    hp.add_argument("--train-size", type=_positive(int), help="train on the first N training images only")
    hp.add_argument("--test-size", type=_positive(int), help="evaluate on the first N test images only")
    args = p.parse_args(argv)
    stage = args.stage
    if args.dropout is not None and stage.dropout is None:
        p.error(f"argument --dropout: stage {stage.name} has no dropout layer")
    for name in ("epochs", "batch_size", "learning_rate", "lr_decay", "dropout"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(stage, name))
    if args.smoke:
        args.data_dir, args.epochs = str(data.SAMPLE_DIR), 1
    args.job_dir = args.job_dir or Path("runs") / stage.name
    return args


def list_stages() -> None:
    print(f"{'#':>2}  {'stage':<10} {'params':>8}  {'optimizer':<9} {'lr':>6} {'decay':>6} {'batch':>5} {'epochs':>6} {'dropout':>7}  layers")
    for s in models.STAGES.values():
        params = s.build(s.dropout).count_params()
        dropout = "-" if s.dropout is None else s.dropout
        print(f"{s.number:>2}  {s.name:<10} {params:>8,}  {s.optimizer:<9} {s.learning_rate:>6} {s.lr_decay:>6} {s.batch_size:>5} {s.epochs:>6} {dropout:>7}  {s.description}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from trainer import reporting

    if args.list_stages:
        list_stages()
        return 0
    started = time.perf_counter()
    stage = args.stage

    # Data: validated uint8 arrays in memory, scaled on the fly by tf.data.
    try:
        mnist = data.load_mnist(args.data_dir, args.cache_dir)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    train_x, train_y = mnist.train_images[: args.train_size], mnist.train_labels[: args.train_size]
    test_x, test_y = mnist.test_images[: args.test_size], mnist.test_labels[: args.test_size]
    keras.utils.set_random_seed(args.seed)
    train_ds = data.make_dataset(train_x, train_y, args.batch_size, shuffle=True, seed=args.seed)
    test_ds = data.make_dataset(test_x, test_y, 1000, shuffle=False)
    print(f"data: {len(train_x):,} training and {len(test_x):,} test digits from {args.data_dir}", flush=True)

    # Model and schedule.
    model = models.build_model(stage, learning_rate=args.learning_rate, dropout=args.dropout)
    clock = reporting.TrainingClock()
    callbacks = [reporting.lr_schedule(args.learning_rate, args.lr_decay), clock]
    print(
        f"stage {stage.number} {stage.name}: {model.count_params():,} parameters, {args.epochs} epochs, batch {args.batch_size}, "
        f"{stage.optimizer} lr {args.learning_rate:g} x {args.lr_decay:g}^epoch" + (f", dropout {args.dropout:g}" if args.dropout is not None else ""),
        flush=True,
    )

    # Train: the progress bar on a terminal, one line per epoch in a log.
    history = model.fit(
        train_ds,
        epochs=args.epochs,
        validation_data=test_ds,
        callbacks=callbacks,
        shuffle=False,  # tf.data already reshuffles every epoch; this only silences Keras' reminder
        verbose=1 if sys.stdout.isatty() else 2,
    )
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)

    # Outputs, each written whole or not at all.
    images_per_second = len(train_x) * args.epochs / clock.train_seconds
    wall = time.perf_counter() - started
    metrics = {
        "stage": stage.name,
        "stage_number": stage.number,
        "hyperparameters": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": stage.optimizer,
            "learning_rate": args.learning_rate,
            "lr_decay": args.lr_decay,
            "dropout": args.dropout,
            "seed": args.seed,
        },
        "data": {"data_dir": args.data_dir, "train_images": len(train_x), "test_images": len(test_x)},
        "epochs": reporting.epoch_records(history),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "train_seconds": clock.train_seconds,
        "wall_seconds": wall,
        "images_per_second": images_per_second,
    }
    args.job_dir.mkdir(parents=True, exist_ok=True)
    tmp_model = args.job_dir / "model.tmp.keras"
    model.save(tmp_model)
    os.replace(tmp_model, args.job_dir / "model.keras")
    reporting.write_json(args.job_dir / "metrics.json", metrics)
    print(
        f"done: stage {stage.name}, {args.epochs} epochs, test accuracy {test_accuracy:.2%}, "
        f"{wall:.1f} s, {images_per_second:,.0f} images/s, outputs in {args.job_dir}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
