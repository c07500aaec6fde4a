"""Training images per second: the trainer against the codelab notebooks' pipeline, same run, same machine.

    python benchmarks/throughput.py                      # all stages
    python benchmarks/throughput.py --stage conv --stage batchnorm --xla off

For each stage and each way of feeding the same model (the trainer's; the notebook baseline's; and a
batch already in memory, which costs the pipeline nothing), a warm-up epoch, then --rounds timed epochs
without validation, taken in turn (trainer, baseline, in memory, trainer, ...) so that the machine's
slow and fast spells fall on all three alike; the median of each. The trainer's side runs in this process, with
the trainer's TensorFlow settings (oneDNN on); the baseline in a child process with the caller's environment, as
a notebook would have it (benchmarks/baseline_notebook.py says why). Prints images/s, the
trainer/baseline ratio, and the trainer's pipeline overhead; exits 1 when conv or batchnorm misses
its target for this CPU: at least 1.3x the baseline with AVX512-BF16 (where the trainer trains in bfloat16), 1.2x
on an AVX2-only CPU (float32 on both sides); at most 5% pipeline overhead on either.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# first: the repository on sys.path, and the trainer's TensorFlow settings before TensorFlow is imported
from common import CALLER_ENVIRONMENT, DATA_DIR_HELP, DEFAULT_DATA_DIR, cpu_precision, onednn

# isort: split
import baseline_notebook
import keras
import tensorflow as tf

from trainer import data, distribution, models, pipeline
from trainer.distribution import cpu_supports_bfloat16

# The targets on a 2-core CPU (issues 6 and 28), for the stages they are set for: the least ratio to the baseline
# (by the CPU: with native bfloat16 or without), the most pipeline overhead.
LEAST_RATIO = 1.3 if cpu_supports_bfloat16() else 1.2
TARGETS = {"conv": (LEAST_RATIO, 0.05), "batchnorm": (LEAST_RATIO, 0.05)}


def epochs_here(model: keras.Model, dataset, steps: int) -> Callable[[], float]:
    """A timed epoch of `model` in this process: call it, get its seconds."""
    timer = baseline_notebook.EpochTimer()

    def epoch() -> float:
        model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        return timer.seconds

    return epoch


class NotebookProcess:
    """The baseline in its own process (baseline_notebook.py --timed-epochs); each epoch() is one timed epoch there."""

    def __init__(self, stage: models.Stage, data_dir: str, steps: int) -> None:
        self.script = Path(baseline_notebook.__file__)
        argv = [sys.executable, str(self.script), "--stage", stage.name, "--data-dir", data_dir]
        self.child = subprocess.Popen(
            [*argv, "--timed-epochs", str(steps)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=CALLER_ENVIRONMENT,
        )
        self.onednn = self._answer().split()[-1]  # its first line: "oneDNN on" or "oneDNN off"

    def _answer(self) -> str:
        line = self.child.stdout.readline()
        if not line:
            raise SystemExit(f"{self.script.name} --timed-epochs ended with status {self.child.wait()}")
        return line.strip()

    def epoch(self) -> float:
        self.child.stdin.write("epoch\n")
        self.child.stdin.flush()
        return float(self._answer())

    def __enter__(self) -> NotebookProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.child.stdin.close()
        self.child.wait()


def images_per_second(epochs: list[Callable[[], float]], images: int, rounds: int) -> list[float]:
    """The median images/s of each way of training, over `rounds` epochs taken in turn after one warm-up."""
    seconds = [[] for _ in epochs]
    for round_ in range(rounds + 1):
        for i, epoch in enumerate(epochs):
            taken = epoch()
            if round_:  # the first traces, compiles and fills caches
                seconds[i].append(taken)
    return [images / statistics.median(s) for s in seconds]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", action="append", help="repeat for several (default: the five codelab stages)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default="auto", help="the trainer's setting (default: auto)")
    p.add_argument("--steps-per-execution", type=int, help="the trainer's setting (default: its own choice)")
    p.add_argument(
        "--precision", choices=distribution.PRECISIONS, default="auto", help="the trainer's setting (default: auto)"
    )
    p.add_argument("--rounds", type=int, default=5, help="timed epochs of each, taken in turn (default: 5)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=DATA_DIR_HELP)
    args = p.parse_args()
    mnist = data.load_mnist(args.data_dir)
    spe = distribution.choose_steps_per_execution(args.steps_per_execution, strategy="default", num_gpus=0)
    xla = distribution.jit_compile(args.xla)
    precision = cpu_precision(args.precision)
    stages = [models.resolve_stage(s) for s in args.stage] if args.stage else models.CODELAB_STAGES
    rows, baseline_onednn = [], "?"
    for stage in stages:
        batch, steps = stage.batch_size, len(mnist.train_images) // stage.batch_size

        def trainer_model(stage=stage):  # called within this iteration only
            keras.utils.set_random_seed(1)
            keras.mixed_precision.set_global_policy(precision)
            return models.build_model(
                stage,
                learning_rate=stage.learning_rate,
                dropout=stage.dropout,
                steps_per_execution=spe,
                jit_compile=xla,
            )

        trainer_ds = pipeline.training_dataset(mnist.train_images, mnist.train_labels, batch, seed=1).repeat()
        one_batch = next(
            iter(pipeline.make_dataset(mnist.train_images[:batch], mnist.train_labels[:batch], batch, shuffle=False))
        )
        # the same options as the trainer's dataset (autotune off), so the overhead compares like with like
        in_memory_ds = tf.data.Dataset.from_tensors(one_batch).repeat().with_options(trainer_ds.options())
        with NotebookProcess(stage, args.data_dir, steps) as notebook:  # float32, seed 1
            baseline_onednn = notebook.onednn
            trainer_epoch, in_memory_epoch = (
                epochs_here(trainer_model(), ds, steps) for ds in (trainer_ds, in_memory_ds)
            )
            trainer, baseline, in_memory = images_per_second(
                [trainer_epoch, notebook.epoch, in_memory_epoch], steps * batch, args.rounds
            )
        rows.append((stage.name, batch, trainer, baseline, in_memory))
        print(
            f"{stage.name}: trainer {trainer:,.0f}, baseline {baseline:,.0f}, in-memory {in_memory:,.0f} images/s",
            flush=True,
        )
    print(
        f"\ntrainer: precision={precision}, xla={args.xla}, steps_per_execution={spe}, oneDNN {onednn()}; "
        f"baseline (its own process): float32, one step per execution, oneDNN {baseline_onednn}"
    )
    print("| stage | batch | trainer images/s | baseline images/s | ratio | in-memory images/s | pipeline overhead |")
    print("|---|---|---|---|---|---|---|")
    missed = []
    for name, batch, trainer, baseline, in_memory in rows:
        ratio, overhead = trainer / baseline, max(0.0, 1 - trainer / in_memory)
        least_ratio, most_overhead = TARGETS.get(name, (0, 1))
        ratio_note = " **below target**" if ratio < least_ratio else ""
        overhead_note = " **above target**" if overhead > most_overhead else ""
        missed += [name] if ratio_note or overhead_note else []
        print(
            f"| {name} | {batch} | {trainer:,.0f} | {baseline:,.0f} | {ratio:.2f}x{ratio_note} | {in_memory:,.0f} | {overhead:.1%}{overhead_note} |"
        )
    if missed:
        print(f"\ntargets missed by: {', '.join(missed)} (ratio >= {LEAST_RATIO}x, pipeline overhead <= 5%)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
