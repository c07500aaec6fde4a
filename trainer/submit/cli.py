"""The command line of ./submit.sh: flags, then one function per subcommand."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import trainer.submit
from trainer.submit import build, container, local, logs, online, serving, study, study_rules, sweep, vertex
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
    serve = argparse.ArgumentParser(add_help=False)
    serve.add_argument("--model-name", default=os.environ.get("MODEL_NAME", "mnist"), help="the model's display name in the Model Registry; an existing one gets a new version (default: $MODEL_NAME, else mnist)")
    serve.add_argument("--endpoint", help="deploy to this endpoint (ID or resource name) instead of the one named --endpoint-name")
    serve.add_argument("--endpoint-name", default="mnist", help="the endpoint's display name, reused if it exists (default: mnist)")
    serve.add_argument("--serving-machine-type", default="n1-standard-2", help="default: n1-standard-2")
    serve.add_argument("--min-replicas", type=int, default=1, help="replicas always running, each billed by the hour (default: 1)")
    serve.add_argument("--max-replicas", type=int, default=1, help="autoscaling limit (default: 1)")
    serve.add_argument("--serving-image", help=f"default: Vertex AI's prebuilt TensorFlow {serving.SERVING_TENSORFLOW} CPU prediction image of the region")
    serve.add_argument("--keep-previous", action="store_true", help="keep the versions the new one replaces deployed (with no traffic, still billed)")
    build_ = sub.add_parser("build", parents=[common], help="build the image with Cloud Build and push it to Artifact Registry")
    build_.add_argument("--tpu", action="store_true", help="the TPU image (Dockerfile.tpu, IMAGE-tpu) instead of the CPU/GPU one")
    build_.add_argument("--local", action="store_true", help="build it here with podman, on a stand-in base, for local --container")
    train = sub.add_parser("train", parents=[common, jobs, serve], help="run a CustomJob")
    train.add_argument("--no-wait", action="store_true", help="return once the job is created")
    train.add_argument("--deploy", action="store_true", help="when the job succeeds, deploy its model (see deploy --help)")
    tune = sub.add_parser("tune", parents=[common, jobs], help="run a HyperparameterTuningJob from hptuning.yaml")
    tune.add_argument("--config", type=Path, default=Path("hptuning.yaml"))
    tune.add_argument("--max-trials", type=int, help="default: the file's maxTrialCount, else 20")
    tune.add_argument("--parallel-trials", type=int, help="default: the file's parallelTrialCount, else 5")
    tune.add_argument("--local", action="store_true", help="run the study on this machine with Optuna, --parallel-trials at a time")
    tune.add_argument("--container", action="store_true", help="with --local: run each trial in the image built by build --local")
    tune.add_argument("--output-dir", type=Path, help="with --local: the study's folder; the same one again continues it (default: runs/DISPLAY_NAME)")
    deploy = sub.add_parser("deploy", parents=[common, serve], help="upload a model to the Model Registry and deploy it to an endpoint")
    deploy.add_argument("--model-dir", required=True, help="the exported model, gs://BUCKET/DISPLAY_NAME/model")
    predict = sub.add_parser("predict", parents=[common], help="digits from a deployed endpoint, one line per image")
    predict.add_argument("--endpoint", required=True, help="the endpoint's ID or resource name")
    predict.add_argument("files", nargs="+", help="PNG, IDX (*idx3-ubyte[.gz]) or JSON lines of {\"image\": 28x28}")
    undeploy = sub.add_parser("undeploy", parents=[common], help="undeploy every model from an endpoint (an idle endpoint is billed)")
    undeploy.add_argument("--endpoint", required=True, help="the endpoint's ID or resource name")
    undeploy.add_argument("--delete-endpoint", action="store_true", help="then delete the endpoint itself")
    logs_ = sub.add_parser("logs", parents=[common], help="a training or tuning job's log lines from Cloud Logging")
    logs_.add_argument("job", help="the job's ID or resource name")
    logs_.add_argument("--follow", action="store_true", help="keep printing new lines until the job ends")
    logs_.add_argument("--poll-seconds", type=float, default=10, help=argparse.SUPPRESS)
    for command in (deploy, predict, undeploy, logs_):
        command.add_argument("--api-endpoint", help="Vertex AI API endpoint (default: $VERTEX_API_ENDPOINT)")
    local_ = sub.add_parser("local", help="run the job on this machine the way Vertex AI would")
    local_.add_argument("--output-dir", type=Path, help="default: runs/local-TIMESTAMP")
    local_.add_argument("--replicas", type=int, default=1)
    local_.add_argument("--container", action="store_true", help="run each replica in the image built by build --local (podman)")
    return p.parse_known_args(argv)
# fmt: on


def _default_output(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _local(args, trainer_args: list[str]) -> int:
    check_trainer_args(trainer_args)
    image = container.image_for(trainer_args) if args.container else None
    return local.run_local(trainer_args, args.output_dir or _default_output("local"), args.replicas, image)


def _tune(args, trainer_args: list[str]) -> int:
    tuning = study.load_config(args.config)
    trial_spec = tuning.trial_job_spec
    trial_args = [*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
    check_trainer_args(trial_args)
    # Before anything is sent or run: the metric the trials report, Vertex AI's rules, every value a trial can get.
    trainer_args = [*trainer_args, *study_rules.metric_flag(tuning, trial_args, str(args.config))]
    study_rules.check(tuning, trial_args, str(args.config))
    # Flags override the file, as with gcloud's --config.
    tuning.max_trial_count = args.max_trials or tuning.max_trial_count or 20
    tuning.parallel_trial_count = min(args.parallel_trials or tuning.parallel_trial_count or 5, tuning.max_trial_count)
    if args.local:  # the same folder again continues the study (its study.db)
        output = args.output_dir or Path("runs") / (tuning.display_name or "mnist-tune")
        image = container.image_for(trainer_args) if args.container else None
        return sweep.Sweep(tuning.study_spec, trial_spec, trainer_args, output, image).run(
            tuning.max_trial_count, tuning.parallel_trial_count
        )
    return vertex.submit_tune(args, settings(args, os.environ, need_bucket=True), trainer_args, tuning)


def _train(args, trainer_args: list[str]) -> int:
    s = settings(args, os.environ, need_bucket=True)
    check_trainer_args(trainer_args)
    if args.deploy and args.no_wait:
        raise SubmitError("--deploy needs train to wait for the job; drop --no-wait, or deploy later")
    if args.deploy:
        serving.check_deploy_args(args)  # now, not after the training
    return vertex.submit_train(args, s, trainer_args)


def _build(args, trainer_args: list[str]) -> int:
    if args.local:
        return container.build_local(args.tpu, args.dry_run)
    return build.build(args, settings(args, os.environ, need_bucket=False))


def _deploy(args, trainer_args: list[str]) -> int:
    return serving.deploy(args, settings(args, os.environ, need_bucket=False), args.model_dir)


def _predict(args, trainer_args: list[str]) -> int:
    return online.predict(args, settings(args, os.environ, need_bucket=False))


def _undeploy(args, trainer_args: list[str]) -> int:
    return serving.undeploy(args, settings(args, os.environ, need_bucket=False))


def _logs(args, trainer_args: list[str]) -> int:
    return logs.show(args, settings(args, os.environ, need_bucket=False))


COMMANDS = {"build": _build, "train": _train, "tune": _tune, "local": _local, "deploy": _deploy,
            "predict": _predict, "undeploy": _undeploy, "logs": _logs}  # fmt: skip
NO_DRY_RUN = {"deploy", "predict", "undeploy", "logs"}  # each request depends on the answer to the one before
WITHOUT_TRAINER_FLAGS = {"build", *NO_DRY_RUN}


def main(argv: list[str] | None = None) -> int:
    """`./submit.sh COMMAND [flags]`: returns the exit status (2 for a bad setting, reported in one line)."""
    args, trainer_args = parse_args(argv)
    if args.command in WITHOUT_TRAINER_FLAGS and trainer_args:
        print(f"error: ./submit.sh {args.command}: unknown arguments {' '.join(trainer_args)}", file=sys.stderr)
        return 2
    if args.command in NO_DRY_RUN and args.dry_run:
        print(f"error: --dry-run: ./submit.sh {args.command} has none (its requests depend on each other's answers)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        return COMMANDS[args.command](args, trainer_args)
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
