"""Train one stage of the codelab on MNIST: `python -m trainer.task --stage batchnorm`.

Run locally, in a container, or as a Vertex AI custom job or tuning trial. Every
hyperparameter defaults to the stage's codelab value and can be overridden by a flag.
The run itself is `trainer.train.train_and_evaluate`; this is its command line: one line
and a defined exit status for every failure (2: bad input or settings, 1: the run failed,
143: stopped by SIGTERM).
"""

from __future__ import annotations

import sys

from trainer import config, data, process


def exit_codes() -> list[tuple[tuple[type[Exception], ...], int]]:
    """Exception kinds and the exit status each ends the run with. Imported here, not at the top: they load
    TensorFlow, which a wrong local --data-dir should not wait for."""
    from trainer import cluster, distribution, preemption, preflight, reporting, storage, train

    return [
        ((preflight.PreflightError, data.DataError, preemption.IncompatibleBackup, cluster.ClusterError), 2),
        ((reporting.TrainingDiverged, storage.StorageError, train.LostPeer, distribution.AcceleratorMissing), 1),
    ]


def list_stages() -> None:
    from trainer import models

    print(
        f"{'#':>2}  {'stage':<10} {'params':>8}  {'optimizer':<9} {'lr':>6} {'decay':>6} {'batch':>5} {'epochs':>6} {'dropout':>7}  layers"
    )
    for s in models.STAGES.values():
        params = models.build(s, s.dropout).count_params()
        dropout = "-" if s.dropout is None else s.dropout
        decay = "1cycle" if s.lr_decay is None else s.lr_decay
        print(
            f"{s.number:>2}  {s.name:<10} {params:>8,}  {s.optimizer:<9} {s.learning_rate:>6} {decay:>6} {s.batch_size:>5} {s.epochs:>6} {dropout:>7}  {s.description}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the trainer with these flags; returns the exit status."""
    run_config, args = config.parse(argv)
    if args.list_stages:
        list_stages()
        return 0
    if not run_config.data_dir.startswith("gs://"):
        try:  # a local folder is checked at once: TensorFlow's import alone takes seconds
            data.find_files(run_config.data_dir)
        except data.DataError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return 2
    from trainer import preemption, train

    codes = exit_codes()
    try:
        train.train_and_evaluate(run_config)
    except preemption.Terminated as e:
        print(f"stopped: {e}", file=sys.stderr, flush=True)
        return 143  # 128 + SIGTERM, as if the signal had ended the process
    except tuple(kind for kinds, _ in codes for kind in kinds) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return next(code for kinds, code in codes if isinstance(e, kinds))
    return 0


if __name__ == "__main__":
    process.end(main())
