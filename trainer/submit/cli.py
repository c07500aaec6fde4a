"""The command line of ./submit.sh: flags, then one function per subcommand."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import trainer.submit
from trainer.submit import build, local, study, sweep, vertex
from trainer.submit.settings import SubmitError, check_trainer_args, settings


# fmt: off
def parse_args(argv: list[str] | None):
    """The submitter's flags, and the rest (the trainer's flags, passed on unchanged)."""
    p = argparse.ArgumentParser(prog="./submit.sh", description=trainer.submit.__doc__.splitlines()[0],
                                epilog="Other flags go to the trainer, e.g. --stage conv --epochs 5.")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", help="Google Cloud project (default: $PROJECT_ID)")
    common.add_argument("--region", help="Vertex AI region (default: $REGION, else us-central1)")
    common.add_argument("--bucket", help="gs://BUCKET for job outputs (default: $BUCKET)")
    common.add_argument("--repository", help="Artifact Registry repository (default: $REPOSITORY, else mnist)")
    common.add_argument("--image", help="image name (default: $IMAGE, else mnist-trainer)")
    common.add_argument("--tag", help="image tag (default: $TAG, else latest)")
    common.add_argument("--image-uri", help="the whole image URI, instead of the four above (default: $IMAGE_URI)")
    common.add_argument("--dry-run", action="store_true", help="print the request (or command) and send nothing")
    jobs = argparse.ArgumentParser(add_help=False)
    jobs.add_argument("--display-name")
    jobs.add_argument("--machine-type", help="e.g. g2-standard-8, a2-highgpu-1g, ct5lp-hightpu-4t, cloud-tpu (default: n1-standard-8; tune: hptuning.yaml's)")
    jobs.add_argument("--accelerator-type", help="default: the machine's own GPU (a2, a3, a4, g2, g4), NVIDIA_TESLA_T4 on n1, none on TPU machines")
    jobs.add_argument("--accelerator-count", type=int, help="0 for a CPU-only job (default: the machine's, else 1)")
    jobs.add_argument("--replicas", type=int, default=1, help="machines; more than one trains with MultiWorkerMirroredStrategy")
    jobs.add_argument("--service-account", help="default: $SERVICE_ACCOUNT")
    jobs.add_argument("--tensorboard", help="a Vertex AI TensorBoard instance (projects/P/locations/R/tensorboards/ID)")
    jobs.add_argument("--spot", action="store_true", help="run on Spot VMs (cheaper, may be preempted: the trainer resumes)")
    jobs.add_argument("--no-restart-on-worker-restart", dest="restart_on_worker_restart", action="store_false",
                      help="by default a restarted worker restarts the whole job, which then resumes from its backup")
    jobs.add_argument("--api-endpoint", help="Vertex AI API endpoint, e.g. a regional or private one (default: $VERTEX_API_ENDPOINT)")
    build_ = sub.add_parser("build", parents=[common], help="build the image with Cloud Build and push it to Artifact Registry")
    build_.add_argument("--tpu", action="store_true", help="the TPU image (Dockerfile.tpu, IMAGE-tpu) instead of the CPU/GPU one")
    train = sub.add_parser("train", parents=[common, jobs], help="run a CustomJob")
    train.add_argument("--no-wait", action="store_true", help="return once the job is created")
    tune = sub.add_parser("tune", parents=[common, jobs], help="run a HyperparameterTuningJob from hptuning.yaml")
    tune.add_argument("--config", type=Path, default=Path("hptuning.yaml"))
    tune.add_argument("--max-trials", type=int, help="default: the file's maxTrialCount, else 20")
    tune.add_argument("--parallel-trials", type=int, help="default: the file's parallelTrialCount, else 5")
    tune.add_argument("--local", action="store_true", help="run the study on this machine with Optuna, --parallel-trials at a time")
    tune.add_argument("--output-dir", type=Path, help="with --local: the study's folder; the same one again continues it (default: runs/DISPLAY_NAME)")
    local_ = sub.add_parser("local", help="run the job on this machine the way Vertex AI would")
    local_.add_argument("--output-dir", type=Path, help="default: runs/local-TIMESTAMP")
    local_.add_argument("--replicas", type=int, default=1)
    args, trainer_args = p.parse_known_args(argv)
    if hasattr(args, "machine_type"):
        args.machine_given = any(v is not None for v in (args.machine_type, args.accelerator_type, args.accelerator_count))
    return args, trainer_args
# fmt: on


def _default_output(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _local(args, trainer_args: list[str]) -> int:
    check_trainer_args(trainer_args)
    return local.run_local(trainer_args, args.output_dir or _default_output("local"), args.replicas)


def _tune(args, trainer_args: list[str]) -> int:
    tuning = study.load_config(args.config)
    trial_spec = tuning.trial_job_spec
    check_trainer_args([*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args])
    # Flags override the file, as with gcloud's --config.
    args.max_trials = args.max_trials or tuning.max_trial_count or 20
    args.parallel_trials = args.parallel_trials or tuning.parallel_trial_count or 5
    if args.local:  # the same folder again continues the study (its study.db)
        output = args.output_dir or Path("runs") / (tuning.display_name or "mnist-tune")
        return sweep.Sweep(tuning.study_spec, trial_spec, trainer_args, output).run(
            args.max_trials, args.parallel_trials
        )
    return vertex.submit_tune(args, settings(args, os.environ, need_bucket=True), trainer_args, tuning)


def _train(args, trainer_args: list[str]) -> int:
    s = settings(args, os.environ, need_bucket=True)
    check_trainer_args(trainer_args)
    return vertex.submit_train(args, s, trainer_args)


def _build(args, trainer_args: list[str]) -> int:
    return build.build(args, settings(args, os.environ, need_bucket=False))


COMMANDS = {"build": _build, "train": _train, "tune": _tune, "local": _local}


def main(argv: list[str] | None = None) -> int:
    """`./submit.sh COMMAND [flags]`: returns the exit status (2 for a bad setting, reported in one line)."""
    args, trainer_args = parse_args(argv)
    try:
        return COMMANDS[args.command](args, trainer_args)
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
