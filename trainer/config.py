"""A run's settings, built once from the flags and the environment, then never changed.

Every hyperparameter defaults to the stage's codelab value; each output folder comes from its flag,
else Vertex AI's variable (AIP_MODEL_DIR, AIP_CHECKPOINT_DIR, AIP_TENSORBOARD_LOG_DIR), else the job dir.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trainer import data, distribution, stages, values
from trainer import training_contract as contract
from trainer.paths import join


@dataclass(frozen=True)
class Config:
    """What one training run does and where it writes. `sources` names the flag or variable each output came from."""

    stage: stages.Stage
    epochs: int
    batch_size: int  # per replica
    learning_rate: float
    lr_decay: float | None
    dropout: float | None
    seed: int = 1
    train_size: int | None = None
    test_size: int | None = None
    data_dir: str = data.DEFAULT_DATA_DIR
    cache_dir: Path = data.DEFAULT_CACHE_DIR
    job_dir: str = "runs"
    model_dir: str = "runs/model"
    checkpoint_dir: str = "runs/checkpoints"
    tensorboard_dir: str = "runs/logs"
    metric_file: str | None = None  # CLOUD_ML_HP_METRIC_FILE: where cloudml-hypertune writes
    image: str | None = None  # TRAINER_IMAGE: the image this job runs, REPO/IMAGE@sha256:... (metrics.json)
    hypertune_metric: str = "accuracy"
    plots: bool = True
    trial_id: str | None = None
    distribute: str = "auto"
    tpu: str | None = None
    precision: str = "auto"
    steps_per_execution: int | None = None
    xla: str = "auto"
    scale_lr: bool = False
    peer_timeout: float = 300.0
    accelerator: str = "auto"  # what the job was given: gpu or tpu fail at once when TensorFlow cannot see it
    sources: Mapping[str, str] = field(default_factory=dict)


# fmt: off
def build_parser() -> argparse.ArgumentParser:
    p = values.OneLineParser(prog="python -m trainer.task", description="Train one stage of the codelab on MNIST: `python -m trainer.task --stage batchnorm`.")
    p.add_argument("--stage", type=values.stage, default="batchnorm", help="softmax, dense, dropout, conv, batchnorm (the codelab's 1-5), fast or best (default: batchnorm)")
    p.add_argument("--list-stages", action="store_true", help="print the stages with their defaults and parameter counts, then exit")
    p.add_argument("--smoke", action="store_true", help="1 epoch on the small MNIST sample shipped in the package; no network")
    io = p.add_argument_group("data and outputs (local paths, gs:// or /gcs/ URIs)")
    io.add_argument("--data-dir", type=values.folder, default=data.DEFAULT_DATA_DIR, help="the four MNIST files (default: %(default)s)")
    io.add_argument("--cache-dir", type=lambda text: Path(values.folder(text)), help=f"where the files of a gs:// --data-dir are kept once downloaded (default: {data.DEFAULT_CACHE_DIR})")
    io.add_argument("--job-dir", type=values.folder, help="metrics.json and plots (default: the parent of $AIP_MODEL_DIR, else runs/STAGE)")
    io.add_argument("--model-dir", type=values.folder, help="the exported SavedModel and model.keras (default: $AIP_MODEL_DIR, else JOB_DIR/model)")
    io.add_argument("--checkpoint-dir", type=values.folder, help="backups to resume from after preemption (default: $AIP_CHECKPOINT_DIR, else JOB_DIR/checkpoints)")
    io.add_argument("--tensorboard-dir", type=values.folder, help="TensorBoard events (default: $AIP_TENSORBOARD_LOG_DIR, else JOB_DIR/logs)")
    io.add_argument("--hypertune-metric", type=values.metric_id, default="accuracy", help="the tag validation accuracy is reported under; must match the study's metricId (default: %(default)s)")
    io.add_argument("--no-plots", dest="plots", action="store_false", help="do not write the PNG plots")
    dist = p.add_argument_group("distribution and speed")
    dist.add_argument("--distribute", choices=distribution.STRATEGIES, default="auto",
                      help="auto: TPU if configured, several workers if TF_CONFIG/CLUSTER_SPEC lists them, several GPUs if visible, else one device")
    dist.add_argument("--accelerator", choices=distribution.ACCELERATORS, default="auto",
                      help="what the job was given (./submit.sh passes it): gpu or tpu fail at once when TensorFlow cannot see it (default: auto)")
    dist.add_argument("--tpu", help="TPU name or address for TPUStrategy (default: $TPU_NAME, or the local TPU VM)")
    dist.add_argument("--precision", choices=distribution.PRECISIONS, default="auto", help="auto: bfloat16 on TPU and on CPUs with native bfloat16, float16 on GPUs with tensor cores, else float32")
    dist.add_argument("--steps-per-execution", type=values.positive(int), help="training steps per call into TensorFlow (default: 50 on TPU, else 8)")
    dist.add_argument("--xla", choices=("auto", "on", "off"), default="auto", help="XLA compilation of the train step (auto: on GPU and TPU)")
    dist.add_argument("--scale-lr", action="store_true", help="multiply the learning rate by the number of replicas")
    dist.add_argument("--peer-timeout", type=values.positive(float), default=300.0, help="seconds a worker waits for its peers before failing (default: %(default)s)")
    hp = p.add_argument_group("hyperparameters (default: the stage's codelab values)")
    hp.add_argument("--epochs", type=values.positive(int))
    hp.add_argument("--batch-size", type=values.positive(int), help="per replica; the global batch is this times the replicas")
    hp.add_argument("--learning-rate", type=values.positive(float))
    hp.add_argument("--lr-decay", type=values.decay, help="the lr is multiplied by this after every epoch")
    hp.add_argument("--dropout", type=values.fraction, help="dropout rate, for stages that have dropout layers")
    hp.add_argument("--seed", type=values.seed, default=1, help="seeds weights and shuffling (default: %(default)s)")
    hp.add_argument("--train-size", type=values.positive(int), help="train on the first N training images only")
    hp.add_argument("--test-size", type=values.positive(int), help="evaluate on the first N test images only")
    return p
# fmt: on


def trainer_flags() -> set[str]:
    """Every flag the trainer accepts, e.g. to check a tuning study's parameter names."""
    return {flag for action in build_parser()._actions for flag in action.option_strings}


def _outputs(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The four output folders and, for error messages, the flag or variable each came from: the folders given
    first, then those derived from another, so that an error names what the user typed before what follows."""
    job_dir, given, derived = args.job_dir, {}, {}
    if job_dir is not None:
        given["job_dir"] = "--job-dir"
    else:
        model_env = env.get(contract.MODEL_DIR)
        job_dir = os.path.dirname(model_env.rstrip("/")) if model_env else os.path.join("runs", args.stage.name)
        derived["job_dir"] = "the job dir (from $AIP_MODEL_DIR)" if model_env else "the job dir"
    folders = {"job_dir": job_dir}
    for name, (variable, default) in contract.OUTPUTS.items():
        flag = "--" + name.replace("_", "-")
        if getattr(args, name):
            folders[name], given[name] = getattr(args, name), flag
        elif env.get(variable):
            folders[name], given[name] = env[variable], f"${variable}"
        else:
            folders[name], derived[name] = join(job_dir, default), f"{flag} (default: JOB_DIR/{default})"
    return folders, {**given, **derived}


def _smoke(args: argparse.Namespace, hyper: dict) -> None:
    """--smoke: 1 epoch on the package's sample, over --epochs and --data-dir. It wins rather than being refused
    because `tune --local --smoke` runs a study file's trials, which pass their own --epochs; a note says what it
    set aside, so that `--smoke --epochs 5` does not quietly train one epoch."""
    set_aside = [f"--epochs {args.epochs}"] if args.epochs is not None else []
    if args.data_dir != data.DEFAULT_DATA_DIR:
        set_aside.append(f"--data-dir {values.shown(args.data_dir)}")
    if args.cache_dir is not None:
        set_aside.append(f"--cache-dir {values.shown(str(args.cache_dir))}")
        args.cache_dir = None
    if set_aside:
        print(
            f"note: --smoke trains 1 epoch on the package's sample; {' and '.join(set_aside)} not used", file=sys.stderr
        )
    args.data_dir, hyper["epochs"] = str(data.SAMPLE_DIR), 1


def parse(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> tuple[Config, argparse.Namespace]:
    """The Config for these flags and this environment, and the parsed flags (for --list-stages).
    Bad flags exit 2 with argparse's one-line message, naming the flag."""
    env = os.environ if environ is None else environ
    p = build_parser()
    args = p.parse_args(argv)
    stage = args.stage
    if args.dropout is not None and stage.dropout is None:
        p.error(f"argument --dropout: stage {stage.name} has no dropout layer")
    if args.lr_decay is not None and stage.lr_decay is None:
        p.error(f"argument --lr-decay: stage {stage.name} uses a one-cycle schedule, not an exponential decay")
    hyper = {
        name: getattr(stage, name) if getattr(args, name) is None else getattr(args, name)
        for name in ("epochs", "batch_size", "learning_rate", "lr_decay", "dropout")
    }
    if args.smoke:
        _smoke(args, hyper)
    if args.cache_dir is not None and not data.is_downloaded(args.data_dir):  # an unused flag is refused
        p.error(f"argument --cache-dir: only a gs:// --data-dir is downloaded, and {values.shown(args.data_dir)} "
                "is not one; drop --cache-dir")  # fmt: skip
    folders, sources = _outputs(args, env)
    for name, source in {"data_dir": "--data-dir", **sources}.items():
        folder = args.data_dir if name == "data_dir" else folders[name]
        why = values.gs_problem(folder) if folder.startswith("gs://") else None
        if why:  # before TensorFlow's client retries a malformed URL for minutes
            p.error(f"{source} {values.shown(folder)}: {why}")
    config = Config(
        stage=stage,
        **hyper,
        seed=args.seed,
        train_size=args.train_size,
        test_size=args.test_size,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir or data.DEFAULT_CACHE_DIR,
        **folders,
        metric_file=env.get(contract.METRIC_FILE),
        hypertune_metric=args.hypertune_metric,
        plots=args.plots,
        trial_id=env.get(contract.TRIAL_ID),
        image=env.get(contract.IMAGE),
        distribute=args.distribute,
        tpu=args.tpu,
        precision=args.precision,
        steps_per_execution=args.steps_per_execution,
        xla=args.xla,
        scale_lr=args.scale_lr,
        peer_timeout=args.peer_timeout,
        accelerator=args.accelerator,
        sources=sources,
    )
    return config, args


def from_flags(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The Config for these flags and this environment (default: os.environ)."""
    return parse(argv, environ)[0]
