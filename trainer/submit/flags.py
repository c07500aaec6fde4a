"""./submit.sh's command line: each subcommand and its flags, as `./submit.sh COMMAND --help` shows them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import trainer.submit
from trainer.config import shown
from trainer.submit.prebuilt import SERVING_TENSORFLOW
from trainer.submit.scheduling import DEFAULT_TIMEOUT, TOOL_LABEL

LOCAL_REPLICAS = 8  # `local --replicas`: each one a TensorFlow process of about 1 GB on this machine


class Parser(argparse.ArgumentParser):
    """argparse's parser whose refusals are one line naming the flag (the usage is a --help away), exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def count(least: int, most: int | None = None):
    """An argparse type for a whole number in [least, most]: 0 or -1 replicas is refused, never taken as 1."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least or (most is not None and value > most):
            within = f"at least {least}" if most is None else f"from {least} to {most}"
            raise argparse.ArgumentTypeError(f"must be {within}, got {shown(text)}")
        return value

    return parse


# fmt: off
def parser() -> argparse.ArgumentParser:
    """./submit.sh's flags; the ones it does not know are the trainer's (parse_known_args)."""
    p = Parser(prog="./submit.sh", description=trainer.submit.__doc__.splitlines()[0],
                                epilog="Other flags go to the trainer, e.g. --stage conv --epochs 5.")
    sub = p.add_subparsers(dest="command", required=True)
    common = Parser(add_help=False)
    common.add_argument("--project", help="Google Cloud project (default: $PROJECT_ID)")
    common.add_argument("--region", help="Vertex AI region (default: $REGION, else us-central1)")
    common.add_argument("--bucket", help="gs://BUCKET for job outputs (default: $BUCKET)")
    common.add_argument("--repository", help="Artifact Registry repository (default: $REPOSITORY, else mnist)")
    common.add_argument("--image", help="image name (default: $IMAGE, else mnist-trainer)")
    common.add_argument("--tag", help="image tag (default: $TAG, else latest)")
    common.add_argument("--image-uri", help="the whole image URI, instead of the four above (default: $IMAGE_URI)")
    common.add_argument("--tpu-image-uri", help="the TPU jobs' whole image URI (default: $TPU_IMAGE_URI, else IMAGE-tpu)")
    common.add_argument("--dry-run", action="store_true", help="print the request (or command) and send nothing")
    jobs = Parser(add_help=False)
    jobs.add_argument("--display-name")
    jobs.add_argument("--machine-type", help="e.g. g2-standard-8, a2-highgpu-1g, ct5lp-hightpu-4t, cloud-tpu (default: n1-standard-8; tune: hptuning.yaml's)")
    jobs.add_argument("--accelerator-type", help="default: the machine's own GPU (a2, a3, a4, g2, g4), NVIDIA_TESLA_T4 on n1, none on TPU machines")
    jobs.add_argument("--accelerator-count", type=count(0), help="0 for a CPU-only job (default: the machine's, else 1)")
    jobs.add_argument("--replicas", type=count(1), default=1, help="machines; more than one trains with MultiWorkerMirroredStrategy")
    jobs.add_argument("--service-account", help="default: $SERVICE_ACCOUNT")
    jobs.add_argument("--tensorboard", help="a Vertex AI TensorBoard instance, projects/P/locations/R/tensorboards/ID (default: $TENSORBOARD)")
    jobs.add_argument("--spot", action="store_true", help="run on Spot VMs (cheaper, may be preempted: the trainer resumes)")
    jobs.add_argument("--no-restart-on-worker-restart", dest="restart_on_worker_restart", action="store_false",
                      help="by default a restarted worker restarts the whole job, which then resumes from its backup")
    jobs.add_argument("--api-endpoint", help="Vertex AI API endpoint, e.g. a regional or private one (default: $VERTEX_API_ENDPOINT)")
    jobs.add_argument("--timeout", default=DEFAULT_TIMEOUT, help="the longest a job (each trial of a tuning job) may run, e.g. 90m, 2h, 1d; then Vertex AI stops it (default: %(default)s; Vertex AI's own is 7 days)")
    jobs.add_argument("--flex-start", action="store_true", help="wait for GPU capacity with Dynamic Workload Scheduler (L4, A100, H100, H200, B200; not with --spot)")
    jobs.add_argument("--max-wait", help="with --flex-start: how long to wait for the capacity, e.g. 2h; 0 waits indefinitely (default: Vertex AI's, 1 day)")
    labelled = Parser(add_help=False)
    labelled.add_argument("--labels", help=f"k=v,... on every job, model and endpoint this creates, besides {TOOL_LABEL[0]}={TOOL_LABEL[1]}")
    serve = Parser(add_help=False)
    serve.add_argument("--model-name", default=os.environ.get("MODEL_NAME", "mnist"), help="the model's display name in the Model Registry; an existing one gets a new version (default: $MODEL_NAME, else mnist)")
    serve.add_argument("--endpoint", help="deploy to this endpoint (ID or resource name) instead of the one named --endpoint-name")
    serve.add_argument("--endpoint-name", default="mnist", help="the endpoint's display name, reused if it exists (default: mnist)")
    serve.add_argument("--serving-machine-type", default="n1-standard-2", help="default: n1-standard-2")
    serve.add_argument("--min-replicas", type=count(1), default=1, help="replicas always running, each billed by the hour (default: 1)")
    serve.add_argument("--max-replicas", type=count(1), default=1, help="autoscaling limit (default: 1)")
    serve.add_argument("--serving-image", help=f"default: this project's own (Dockerfile.serving, $SERVING_IMAGE_URI, else REGION-docker.pkg.dev/PROJECT/REPOSITORY/mnist-serving:TAG); a prebuilt one, e.g. TensorFlow {SERVING_TENSORFLOW}'s, is checked against its end of availability")
    serve.add_argument("--keep-previous", action="store_true", help="keep the versions the new one replaces deployed (with no traffic, still billed)")
    build_ = sub.add_parser("build", parents=[common], help="build the training and serving images with Cloud Build and push them to Artifact Registry")
    build_.add_argument("--tpu", action="store_true", help="the TPU image (Dockerfile.tpu, IMAGE-tpu) instead of the CPU/GPU one")
    build_.add_argument("--local", action="store_true", help="build it here with podman, on a stand-in base, for local --container")
    build_.add_argument("--serving", action="store_true", help="with --local: the serving image (Dockerfile.serving), for serve --local; ./submit.sh build builds it too")
    train = sub.add_parser("train", parents=[common, jobs, serve, labelled], help="run a CustomJob")
    train.add_argument("--no-wait", action="store_true", help="return once the job is created")
    train.add_argument("--deploy", action="store_true", help="when the job succeeds, deploy its model (see deploy --help)")
    tune = sub.add_parser("tune", parents=[common, jobs, serve, labelled], help="run a HyperparameterTuningJob from hptuning.yaml")
    tune.add_argument("--deploy", action="store_true", help="when the sweep ends, deploy the best trial's model (see deploy --help)")
    tune.add_argument("--config", type=Path, default=Path("hptuning.yaml"))
    tune.add_argument("--max-trials", type=count(1), help="default: the file's maxTrialCount, else 20")
    tune.add_argument("--parallel-trials", type=count(1), help="default: the file's parallelTrialCount, else 5")
    tune.add_argument("--local", action="store_true", help="run the study on this machine with Optuna, --parallel-trials at a time")
    tune.add_argument("--container", action="store_true", help="with --local: run each trial in the image built by build --local")
    tune.add_argument("--output-dir", type=Path, help="with --local: the study's folder; the same one again continues it (default: runs/DISPLAY_NAME)")
    deploy = sub.add_parser("deploy", parents=[common, serve, labelled], help="upload a model to the Model Registry and deploy it to an endpoint")
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
    batch = sub.add_parser("batch-predict", parents=[common, labelled], help="digits for files of images with a BatchPredictionJob (no endpoint)")
    which = batch.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-dir", help="an exported model in Cloud Storage, gs://BUCKET/JOB/model: uploaded first, as deploy does")
    which.add_argument("--model", help="a model in the Model Registry, NAME or NAME@VERSION")
    batch.add_argument("--input", action="append", required=True, help="gs:// PNG, IDX (*idx3-ubyte[.gz]) or JSON-lines file, or a gs://.../ folder of them; repeat for more")
    batch.add_argument("--output", required=True, help="gs://BUCKET/PATH for the instances and Vertex AI's results")
    batch.add_argument("--model-name", default=os.environ.get("MODEL_NAME", "mnist"), help="with --model-dir: its name in the Model Registry (default: $MODEL_NAME, else mnist)")
    batch.add_argument("--serving-image", help="with --model-dir: as deploy's (default: this project's own)")
    batch.add_argument("--machine-type", default="n1-standard-2", help="default: %(default)s")
    batch.add_argument("--replicas", type=count(1), default=1, help="at most this many machines (default: %(default)s)")
    batch.add_argument("--display-name", help="default: mnist-batch-TIMESTAMP")
    serve_ = sub.add_parser("serve", help="run the serving image here (podman) as Vertex AI runs it on an endpoint")
    serve_.add_argument("--local", action="store_true", required=True, help="here, in the image built by build --local --serving")
    serve_.add_argument("--model-dir", type=Path, required=True, help="an exported model folder, e.g. runs/batchnorm/model")
    serve_.add_argument("--port", type=count(1, 65535), default=8080, help="the port it listens on, AIP_HTTP_PORT (default: %(default)s)")
    status = sub.add_parser("status", parents=[common], help="a training, tuning or batch prediction job's state, times and machine; a tuning job's trials")
    status.add_argument("job", help="the job's ID or resource name")
    list_ = sub.add_parser("list", parents=[common], help="this tool's jobs, newest first, and its endpoints with deployed models")
    list_.add_argument("--all", action="store_true", help="everything in the project and region, not only what this tool created")
    cancel = sub.add_parser("cancel", parents=[common], help="cancel a training, tuning or batch prediction job and wait until it is cancelled")
    cancel.add_argument("job", help="the job's ID or resource name")
    for command in (deploy, predict, undeploy, logs_, status, list_, cancel, batch):
        command.add_argument("--api-endpoint", help="Vertex AI API endpoint (default: $VERTEX_API_ENDPOINT)")
    local_ = sub.add_parser("local", help="run the job on this machine the way Vertex AI would")
    local_.add_argument("--output-dir", type=Path, help="default: runs/local-TIMESTAMP")
    local_.add_argument("--replicas", type=count(1, LOCAL_REPLICAS), default=1, help=f"processes: a chief and workers, as a job's replicas (default: 1, at most {LOCAL_REPLICAS})")
    local_.add_argument("--container", action="store_true", help="run each replica in the image built by build --local (podman)")
    return p
# fmt: on
