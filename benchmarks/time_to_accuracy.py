"""Wall time from the start of training to a test accuracy, over several seeds: median and spread.

    python benchmarks/time_to_accuracy.py --stage fast --stage batchnorm --seeds 5 --target 0.99

Each run is the trainer's own train_and_evaluate (the loop that ships), with one more Keras callback.
The data is loaded once; the clock starts as training starts, so tracing and compilation count. Every
--eval-every of an epoch the clock pauses while the full 10,000 test digits are evaluated (and while the
trainer validates at the end of each epoch); a run stops at the target or at the end of its stage's budget.
Exits 1 when the fast stage misses its target (99% within 15 s in at least 4 runs of 5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

# first: the repository on sys.path, and the trainer's TensorFlow settings before TensorFlow is imported
from common import DATA_DIR_HELP, DEFAULT_DATA_DIR, cpu_precision, onednn

# isort: split
import keras
import numpy as np
import tensorflow as tf

from trainer import config, data, distribution, models, train

FAST_SECONDS, FAST_SHARE = 15, 0.8  # the fast stage's target: 99% within 15 s in 4 runs of 5


class TimeToAccuracy(keras.callbacks.Callback):
    """Evaluates on the whole test set every few batches with the clock paused; stops at the target."""

    def __init__(self, test_x, test_y, eval_fraction: float, target: float) -> None:
        super().__init__()
        self.eval_fraction, self.target = eval_fraction, target
        self.test_x, self.test_y = tf.constant(test_x.astype(np.float32) / 255.0), test_y
        self.started = self.paused = 0.0
        self.every, self.reached, self.accuracy = 1, None, 0.0
        self._predict, self._validating = None, 0.0

    def on_train_begin(self, logs=None):
        spe = self.model.steps_per_execution  # batch-end callbacks come once per execution
        self.every = max(1, round(self.params["steps"] * self.eval_fraction / spe)) * spe
        self.started = time.perf_counter()

    def on_test_begin(self, logs=None):  # the trainer's validation at an epoch's end: not training time
        self._validating = time.perf_counter()

    def on_test_end(self, logs=None):
        self.paused += time.perf_counter() - self._validating

    def _evaluate(self) -> None:
        pause = time.perf_counter()
        elapsed = pause - self.started - self.paused  # training time so far, evaluations left out
        if self._predict is None:
            self._predict = tf.function(lambda x: tf.argmax(self.model(x, training=False), axis=-1))
        predictions = np.concatenate(
            [self._predict(self.test_x[i : i + 2000]).numpy() for i in range(0, len(self.test_y), 2000)]
        )
        self.accuracy = float(np.mean(predictions == self.test_y))
        self.paused += time.perf_counter() - pause
        if self.accuracy >= self.target and self.reached is None:
            self.reached = elapsed
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            self._evaluate()

    def on_epoch_end(self, epoch, logs=None):
        self._evaluate()


def run(stage: models.Stage, mnist: data.Mnist, seed: int, target: float, eval_fraction: float, flags: list[str]):
    """One run of the trainer's train_and_evaluate, timed; (seconds to the target or None, last accuracy)."""
    watch = TimeToAccuracy(mnist.test_images, mnist.test_labels, eval_fraction, target)
    with tempfile.TemporaryDirectory() as job_dir:
        argv = ["--stage", stage.name, "--seed", str(seed), "--job-dir", job_dir, "--no-plots", *flags]
        train.train_and_evaluate(config.from_flags(argv, environ={}), mnist=mnist, callbacks=[watch])
    return watch.reached, watch.accuracy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", action="append", help="repeat for several (default: fast and batchnorm)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument(
        "--eval-every", type=float, default=0.1, help="fraction of an epoch between evaluations (default: 0.1)"
    )
    p.add_argument("--xla", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--steps-per-execution", type=int)
    p.add_argument(
        "--precision", choices=distribution.PRECISIONS, default="auto", help="the trainer's setting (default: auto)"
    )
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=DATA_DIR_HELP)
    args = p.parse_args()
    mnist = data.load_mnist(args.data_dir)
    precision = cpu_precision(args.precision)
    print(f"precision={precision}, xla={args.xla}, oneDNN {onednn()}", flush=True)
    flags = ["--precision", precision, "--xla", args.xla]
    flags += ["--steps-per-execution", str(args.steps_per_execution)] if args.steps_per_execution else []
    rows = []
    for stage in [models.resolve_stage(s) for s in (args.stage or ["fast", "batchnorm"])]:
        times = []
        for seed in range(1, args.seeds + 1):
            reached, accuracy = run(stage, mnist, seed, args.target, args.eval_every, flags)
            print(
                f"{stage.name} seed {seed}: "
                + (f"{args.target:.1%} after {reached:.1f} s" if reached else f"never reached {args.target:.1%}")
                + f" (last test accuracy {accuracy:.2%})",
                flush=True,
            )
            times.append(reached)
        done = sorted(t for t in times if t is not None)
        rows.append((stage.name, done, len(times)))
    print(f"\n| stage | time to {args.target:.1%} (median) | min - max | runs reaching it |\n|---|---|---|---|")
    for name, done, total in rows:
        median = f"{statistics.median(done):.1f} s" if done else "-"
        spread = f"{done[0]:.1f} - {done[-1]:.1f} s" if done else "-"
        print(f"| {name} | {median} | {spread} | {len(done)} of {total} |")
    fast = [(done, total) for name, done, total in rows if name == "fast"]
    if fast and args.target == 0.99:  # issue 6's target: 99% within 15 s in at least 4 runs of 5
        done, total = fast[0]
        in_time = sum(t <= FAST_SECONDS for t in done)
        print(
            f"\nfast: {in_time} of {total} runs reached 99% within {FAST_SECONDS} s (target: {FAST_SHARE:.0%} of them)"
        )
        return 0 if in_time >= FAST_SHARE * total else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
