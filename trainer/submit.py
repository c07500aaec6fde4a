"""Build the container and run the trainer as Vertex AI jobs, or the same jobs on this machine.

    ./submit.sh build                      # Cloud Build: image to Artifact Registry
    ./submit.sh train --stage conv         # a CustomJob on a GPU
    ./submit.sh tune --max-trials 20       # a HyperparameterTuningJob from hptuning.yaml
    ./submit.sh local --stage dense        # the job as Vertex would run it, here
    ./submit.sh tune --local --max-trials 4

Flags the submitter does not know are passed to the trainer. Settings come from flags, then the
environment (PROJECT_ID, REGION, BUCKET, REPOSITORY, IMAGE, TAG, IMAGE_URI, SERVICE_ACCOUNT).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

MACHINE_TYPE = re.compile(r"^(n1|n2|n2d|e2|c2|c2d|c3|m1|a2|a3|g2)-(standard|highmem|highcpu|highgpu|megagpu|ultragpu|edgegpu)-\d+g?$")
VERTEX_POOLS = ["workerpool0", "workerpool1"]  # chief pool, then the other workers, as Vertex AI requires


class SubmitError(Exception):
    """A bad setting, reported as one line before anything is sent."""


# ---------------------------------------------------------------- settings


@dataclass
class Settings:
    project: str
    region: str
    bucket: str
    image_uri: str
    service_account: str | None
    tensorboard: str | None
    api_endpoint: str | None


def _setting(args, environ, name: str, env_name: str, default: str | None = None) -> str | None:
    return getattr(args, name, None) or environ.get(env_name) or default


def settings(args, environ, *, need_bucket: bool) -> Settings:
    """Flags, then environment variables; every value checked before anything is sent."""
    from google.cloud.aiplatform.constants import base as constants

    project = _setting(args, environ, "project", "PROJECT_ID")
    region = _setting(args, environ, "region", "REGION", "us-central1")
    bucket = _setting(args, environ, "bucket", "BUCKET")
    if not project:
        raise SubmitError("no project: pass --project or set PROJECT_ID")
    if region not in constants.SUPPORTED_REGIONS:
        raise SubmitError(f"--region {region}: not a Vertex AI region (e.g. us-central1, europe-west4)")
    if need_bucket and not bucket:
        raise SubmitError("no bucket: pass --bucket gs://BUCKET or set BUCKET")
    if bucket and not bucket.startswith("gs://"):
        raise SubmitError(f"--bucket {bucket}: must be a Cloud Storage URI, gs://BUCKET")
    repository = _setting(args, environ, "repository", "REPOSITORY", "mnist")
    image = _setting(args, environ, "image", "IMAGE", "mnist-trainer")
    tag = _setting(args, environ, "tag", "TAG", "latest")
    image_uri = _setting(args, environ, "image_uri", "IMAGE_URI", f"{region}-docker.pkg.dev/{project}/{repository}/{image}:{tag}")
    tensorboard = getattr(args, "tensorboard", None)
    service_account = _setting(args, environ, "service_account", "SERVICE_ACCOUNT")
    if tensorboard and not service_account:
        raise SubmitError("--tensorboard needs --service-account (or SERVICE_ACCOUNT): Vertex AI TensorBoard uploads as that account")
    return Settings(project, region, (bucket or "").rstrip("/"), image_uri, service_account, tensorboard,
                    _setting(args, environ, "api_endpoint", "VERTEX_API_ENDPOINT"))


def check_trainer_args(trainer_args: list[str]) -> None:
    """Fail here, not an hour later in the cloud, on flags the trainer would reject."""
    from trainer import task

    try:
        task.parse_args(trainer_args, environ={})
    except SystemExit:
        raise SubmitError(f"trainer flags {' '.join(trainer_args)!r} are not valid (see the message above)") from None


def machine_spec(args) -> dict:
    from google.cloud import aiplatform_v1

    if not MACHINE_TYPE.match(args.machine_type):
        raise SubmitError(f"--machine-type {args.machine_type}: not a Compute Engine machine type (e.g. n1-standard-8, g2-standard-8)")
    spec = {"machine_type": args.machine_type}
    if args.accelerator_count:
        if args.accelerator_type not in aiplatform_v1.AcceleratorType.__members__ or args.accelerator_type.endswith("UNSPECIFIED"):
            raise SubmitError(f"--accelerator-type {args.accelerator_type}: unknown; e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100")
        spec.update(accelerator_type=args.accelerator_type, accelerator_count=args.accelerator_count)
    return spec


def worker_pool_specs(image_uri: str, trainer_args: list[str], spec: dict, replicas: int) -> list[dict]:
    """A chief pool of one replica, then the other workers, as Vertex AI requires for multi-worker jobs."""
    pool = {"machine_spec": spec, "container_spec": {"image_uri": image_uri, "args": trainer_args}}
    pools = [{**pool, "replica_count": 1}]
    if replicas > 1:
        pools.append({**pool, "replica_count": replicas - 1})
    return pools


# ---------------------------------------------------------------- the tuning study (hptuning.yaml)


def load_study(path: Path):
    """hptuning.yaml in the format `gcloud ai hp-tuning-jobs create --config` reads, checked against the
    API's own message types (unknown fields are errors) and the trainer's flags."""
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    from trainer import task

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SubmitError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise SubmitError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(doc, dict) or set(doc) != {"studySpec", "trialJobSpec"}:
        raise SubmitError(f"{path}: expected exactly the keys studySpec and trialJobSpec")
    try:
        study = aiplatform_v1.StudySpec.from_json(json.dumps(doc["studySpec"]))
        trial_spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(doc["trialJobSpec"]))
    except json_format.ParseError as e:
        raise SubmitError(f"{path}: {' '.join(str(e).split())}") from None
    flags = task.trainer_flags()
    for parameter in study.parameters:
        if f"--{parameter.parameter_id}" not in flags:
            raise SubmitError(f"{path}: parameter {parameter.parameter_id!r} is not a trainer flag (--{parameter.parameter_id})")
    if len(study.metrics) != 1:
        raise SubmitError(f"{path}: the study needs exactly one metric")
    return study, trial_spec


def _sdk_parameter_specs(study) -> dict:
    """The study's parameters as the SDK's parameter specs."""
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    scales = {v: k for k, v in hpt._SCALE_TYPE_MAP.items()}
    specs = {}
    for p in study.parameters:
        scale = scales[p.scale_type]
        kind = type(p).pb(p).WhichOneof("parameter_value_spec")
        if kind == "double_value_spec":
            specs[p.parameter_id] = hpt.DoubleParameterSpec(min=p.double_value_spec.min_value, max=p.double_value_spec.max_value, scale=scale)
        elif kind == "integer_value_spec":
            specs[p.parameter_id] = hpt.IntegerParameterSpec(min=p.integer_value_spec.min_value, max=p.integer_value_spec.max_value, scale=scale)
        elif kind == "discrete_value_spec":
            specs[p.parameter_id] = hpt.DiscreteParameterSpec(values=list(p.discrete_value_spec.values), scale=scale)
        else:
            specs[p.parameter_id] = hpt.CategoricalParameterSpec(values=list(p.categorical_value_spec.values))
    return specs


def sample_trials(study, count: int, seed: int = 0) -> list[dict[str, str]]:
    """Random search over the study's parameters, as flag values (log scales sampled log-uniformly)."""
    from google.cloud import aiplatform_v1

    log = aiplatform_v1.StudySpec.ParameterSpec.ScaleType.UNIT_LOG_SCALE
    rng = random.Random(seed)
    trials = []
    for _ in range(count):
        values = {}
        for p in study.parameters:
            kind = type(p).pb(p).WhichOneof("parameter_value_spec")
            if kind in ("double_value_spec", "integer_value_spec"):
                spec = getattr(p, kind)
                lo, hi = spec.min_value, spec.max_value
                x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if p.scale_type == log else rng.uniform(lo, hi)
                values[p.parameter_id] = f"{x:.6g}" if kind == "double_value_spec" else str(round(x))
            elif kind == "discrete_value_spec":
                values[p.parameter_id] = f"{rng.choice(list(p.discrete_value_spec.values)):g}"
            else:
                values[p.parameter_id] = rng.choice(list(p.categorical_value_spec.values))
        trials.append(values)
    return trials


def read_metric(path: Path, tag: str) -> float | None:
    """The last value the trial reported under `tag` in its cloudml-hypertune file."""
    if not path.exists():
        return None
    values = [float(entry[tag]) for line in path.read_text().splitlines() if tag in (entry := json.loads(line))]
    return values[-1] if values else None


# ---------------------------------------------------------------- jobs on this machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vertex_environment(output_dir: Path, job_id: str, cluster: dict[str, list[str]], pool: str, index: int,
                       trial_id: str | None = None) -> dict[str, str]:
    """What Vertex AI puts in a replica's environment, with the output dirs under output_dir."""
    tf_names = {"workerpool0": "chief", "workerpool1": "worker"}
    env = {
        "AIP_MODEL_DIR": str(output_dir / "model"),
        "AIP_CHECKPOINT_DIR": str(output_dir / "checkpoints"),
        "AIP_TENSORBOARD_LOG_DIR": str(output_dir / "logs"),
        "CLOUD_ML_JOB_ID": job_id,
        "CLOUD_ML_HP_METRIC_FILE": str(output_dir / "hypertune" / f"{pool}-{index}.metrics"),
        "CLUSTER_SPEC": json.dumps({"cluster": cluster, "environment": "cloud", "task": {"type": pool, "index": index}, "job": job_id}),
        "TF_CONFIG": json.dumps({"cluster": {tf_names[p]: hosts for p, hosts in cluster.items()},
                                 "task": {"type": tf_names[pool], "index": index}, "environment": "cloud"}),
    }
    if trial_id:
        env["CLOUD_ML_TRIAL_ID"] = trial_id
    return env


def run_worker_pools(pools: list[tuple[int, list[str]]], output_dir: Path, job_id: str, trial_id: str | None = None,
                     log=None) -> int:
    """Run each replica of each pool as a local process of the image's entry point
    (`python -m trainer.task ARGS`) with the Vertex environment; the worst exit status."""
    cluster = {VERTEX_POOLS[i]: [f"127.0.0.1:{_free_port()}" for _ in range(count)] for i, (count, _) in enumerate(pools) if count}
    procs = []
    try:
        for i, (count, args) in enumerate(pools):
            for index in range(count):
                env = {**os.environ, "PYTHONUNBUFFERED": "1",
                       **vertex_environment(output_dir, job_id, cluster, VERTEX_POOLS[i], index, trial_id)}
                procs.append(subprocess.Popen([sys.executable, "-m", "trainer.task", *args], env=env,
                                              stdout=log, stderr=subprocess.STDOUT if log else None))
        return max(abs(p.wait()) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def chief_metric_file(output_dir: Path) -> Path:
    return output_dir / "hypertune" / "workerpool0-0.metrics"


def run_local(trainer_args: list[str], output_dir: Path, replicas: int) -> int:
    job_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"local job {job_id}: outputs in {output_dir}", flush=True)
    pools = [(1, trainer_args)] + ([(replicas - 1, trainer_args)] if replicas > 1 else [])
    return run_worker_pools(pools, output_dir, job_id)


def tune_local(study, trial_spec, trainer_args: list[str], output_dir: Path, max_trials: int) -> int:
    """Run the study here: sample trials, run each as a local job, read each trial's real metric file."""
    metric = study.metrics[0]
    maximize = metric.goal.name == "MAXIMIZE"
    base_args = [*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
    results = []
    for number, values in enumerate(sample_trials(study, max_trials), 1):
        trial_dir = output_dir / str(number)
        args = [*base_args, *(f"--{k}={v}" for k, v in values.items())]
        print(f"trial {number}/{max_trials}: {' '.join(f'--{k}={v}' for k, v in values.items())}", flush=True)
        trial_dir.mkdir(parents=True, exist_ok=True)
        with open(trial_dir / "log.txt", "w") as log:
            rc = run_worker_pools([(1, args)], trial_dir, f"local-tune-{number}", trial_id=str(number), log=log)
        value = read_metric(chief_metric_file(trial_dir), metric.metric_id)
        results.append((number, values, value if rc == 0 else None))
    print(f"\n{'trial':>5}  {metric.metric_id:>10}  parameters")
    for number, values, value in results:
        shown = "failed" if value is None else f"{value:.4f}"
        print(f"{number:>5}  {shown:>10}  {' '.join(f'{k}={v}' for k, v in values.items())}")
    done = [r for r in results if r[2] is not None]
    if not done:
        print("error: every trial failed; see the logs under " + str(output_dir), file=sys.stderr)
        return 1
    best = (max if maximize else min)(done, key=lambda r: r[2])
    print(f"best: trial {best[0]}, {metric.metric_id} {best[2]:.4f}, {' '.join(f'--{k}={v}' for k, v in best[1].items())}")
    return 0


# ---------------------------------------------------------------- jobs on Vertex AI


class DryRun(Exception):
    """Raised instead of sending a request when --dry-run is given."""


class _PrintingClient:
    """Stands in for the SDK's API client: prints the exact request the SDK built and sends nothing."""

    def __getattr__(self, method):
        def send(parent, timeout=None, **request):
            ((_, message),) = request.items()
            from google.protobuf import json_format

            print(json_format.MessageToJson(type(message).pb(message), indent=2))
            raise DryRun(method)

        return send


def _init_sdk(s: Settings, dry_run: bool) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    local_endpoint = bool(s.api_endpoint and s.api_endpoint.startswith("http://"))
    aiplatform.init(
        project=s.project,
        location=s.region,
        staging_bucket=s.bucket,
        api_endpoint=s.api_endpoint,
        api_transport="rest" if local_endpoint else None,
        # A local emulator cannot check credentials, and a dry run needs none.
        credentials=AnonymousCredentials() if (local_endpoint or dry_run) else None,
    )


def _run_options(args, s: Settings) -> dict:
    from google.cloud import aiplatform_v1

    return {
        "service_account": s.service_account,
        "tensorboard": s.tensorboard,
        "restart_job_on_worker_restart": args.restart_on_worker_restart,
        "scheduling_strategy": aiplatform_v1.Scheduling.Strategy.SPOT if args.spot else None,
    }


def _submit(job, dry_run: bool, send) -> bool:
    """Send the job's create request through the SDK, or on a dry run print it and send nothing. True if sent."""
    if dry_run:
        job.api_client = _PrintingClient()
        logging.disable(logging.INFO)  # the SDK logs to stdout; a dry run prints the request alone
    try:
        send()
    except DryRun:
        return False
    return True


def submit_train(args, s: Settings, trainer_args: list[str]) -> int:
    from google.cloud import aiplatform

    spec = machine_spec(args)
    _init_sdk(s, args.dry_run)
    name = args.display_name or f"mnist-{time.strftime('%Y%m%d-%H%M%S')}"
    job = aiplatform.CustomJob(
        display_name=name,
        worker_pool_specs=worker_pool_specs(s.image_uri, trainer_args, spec, args.replicas),
        base_output_dir=f"{s.bucket}/{name}",
    )
    if not _submit(job, args.dry_run, lambda: job.submit(**_run_options(args, s))):
        return 0
    print(f"job: {job.resource_name}\nconsole: {job._dashboard_uri()}\noutputs: {s.bucket}/{name}", flush=True)
    if args.no_wait:
        return 0
    try:
        job.wait_for_completion()  # the SDK logs the job's state as it changes
    except RuntimeError as e:
        print(f"error: job {job.resource_name} ended {job.state.name}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    print(f"state: {job.state.name}", flush=True)
    return 0


def submit_tune(args, s: Settings, trainer_args: list[str], study, trial_spec) -> int:
    from google.cloud import aiplatform
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    from google.protobuf import json_format

    yaml_spec = trial_spec.worker_pool_specs[0].machine_spec
    spec = machine_spec(args) if args.machine_given else json_format.MessageToDict(type(yaml_spec).pb(yaml_spec), preserving_proto_field_name=True)
    _init_sdk(s, args.dry_run)
    name = args.display_name or f"mnist-tune-{time.strftime('%Y%m%d-%H%M%S')}"
    base_args = list(trial_spec.worker_pool_specs[0].container_spec.args)
    trial_job = aiplatform.CustomJob(
        display_name=f"{name}-trial",
        worker_pool_specs=worker_pool_specs(s.image_uri, [*base_args, *trainer_args], spec, args.replicas),
        base_output_dir=f"{s.bucket}/{name}",
    )
    metric = study.metrics[0]
    algorithms = {v: k for k, v in hpt.SEARCH_ALGORITHM_TO_PROTO_VALUE.items()}
    selections = {v: k for k, v in hpt.MEASUREMENT_SELECTION_TO_PROTO_VALUE.items()}
    job = aiplatform.HyperparameterTuningJob(
        display_name=name,
        custom_job=trial_job,
        metric_spec={metric.metric_id: metric.goal.name.lower()},
        parameter_spec=_sdk_parameter_specs(study),
        max_trial_count=args.max_trials,
        parallel_trial_count=min(args.parallel_trials, args.max_trials),
        search_algorithm=algorithms.get(study.algorithm),
        measurement_selection=selections.get(study.measurement_selection_type, "best"),
    )
    try:
        if not _submit(job, args.dry_run, lambda: job.run(sync=True, **_run_options(args, s))):
            return 0
    except RuntimeError as e:  # the SDK raises when the job ends failed; its trials still tell what happened
        print(f"error: tuning job ended {job.state.name}: {' '.join(str(e).split())}", file=sys.stderr)
    print(f"job: {job.resource_name}\nconsole: {job._dashboard_uri()}\nstate: {job.state.name}", flush=True)
    finished = [t for t in job.trials if t.final_measurement.metrics]
    if not finished:
        print("error: no trial reported a metric", file=sys.stderr)
        return 1
    pick = max if metric.goal.name == "MAXIMIZE" else min
    best = pick(finished, key=lambda t: t.final_measurement.metrics[0].value)
    params = " ".join(f"--{p.parameter_id}={p.value}" for p in best.parameters)
    print(f"best: trial {best.id}, {metric.metric_id} {best.final_measurement.metrics[0].value:.4f}, {params}", flush=True)
    return 0 if job.state.name == "JOB_STATE_SUCCEEDED" else 1


def build(args, s: Settings) -> int:
    """Cloud Build, with the image name from the same settings the job commands use."""
    match = re.fullmatch(r"([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^:]+):(.+)", s.image_uri)
    if not match:
        raise SubmitError(f"image {s.image_uri}: not an Artifact Registry image, REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG")
    region, project, repository, image, tag = match.groups()
    command = ["gcloud", "builds", "submit", "--project", project, "--region", region, "--config", "cloudbuild.yaml",
               f"--substitutions=_REGION={region},_REPOSITORY={repository},_IMAGE={image},_TAG={tag}", "."]
    print(" ".join(command), flush=True)
    if args.dry_run:
        return 0
    if not shutil.which("gcloud"):
        raise SubmitError("gcloud not found: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)")
    return subprocess.call(command)


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="./submit.sh", description=__doc__.splitlines()[0],
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
    jobs.add_argument("--machine-type", help="default: n1-standard-8 (tune: the one in hptuning.yaml)")
    jobs.add_argument("--accelerator-type", help="default: NVIDIA_TESLA_T4 (tune: the one in hptuning.yaml)")
    jobs.add_argument("--accelerator-count", type=int, help="0 for a CPU-only job (default: 1; tune: hptuning.yaml's)")
    jobs.add_argument("--replicas", type=int, default=1, help="machines; more than one trains with MultiWorkerMirroredStrategy")
    jobs.add_argument("--service-account", help="default: $SERVICE_ACCOUNT")
    jobs.add_argument("--tensorboard", help="a Vertex AI TensorBoard instance (projects/P/locations/R/tensorboards/ID)")
    jobs.add_argument("--spot", action="store_true", help="run on Spot VMs (cheaper, may be preempted: the trainer resumes)")
    jobs.add_argument("--no-restart-on-worker-restart", dest="restart_on_worker_restart", action="store_false",
                      help="by default a restarted worker restarts the whole job, which then resumes from its backup")
    jobs.add_argument("--api-endpoint", help="Vertex AI API endpoint, e.g. a regional or private one (default: $VERTEX_API_ENDPOINT)")
    sub.add_parser("build", parents=[common], help="build the image with Cloud Build and push it to Artifact Registry")
    train = sub.add_parser("train", parents=[common, jobs], help="run a CustomJob")
    train.add_argument("--no-wait", action="store_true", help="return once the job is created")
    tune = sub.add_parser("tune", parents=[common, jobs], help="run a HyperparameterTuningJob from hptuning.yaml")
    tune.add_argument("--config", type=Path, default=Path("hptuning.yaml"))
    tune.add_argument("--max-trials", type=int, default=20)
    tune.add_argument("--parallel-trials", type=int, default=5)
    tune.add_argument("--local", action="store_true", help="run the trials one after another on this machine")
    tune.add_argument("--output-dir", type=Path, help="with --local (default: runs/tune-TIMESTAMP)")
    local = sub.add_parser("local", help="run the job on this machine the way Vertex AI would")
    local.add_argument("--output-dir", type=Path, help="default: runs/local-TIMESTAMP")
    local.add_argument("--replicas", type=int, default=1)
    args, trainer_args = p.parse_known_args(argv)
    if hasattr(args, "machine_type"):
        args.machine_given = any(v is not None for v in (args.machine_type, args.accelerator_type, args.accelerator_count))
        args.machine_type = args.machine_type or "n1-standard-8"
        args.accelerator_type = args.accelerator_type or "NVIDIA_TESLA_T4"
        args.accelerator_count = 1 if args.accelerator_count is None else args.accelerator_count
    return args, trainer_args


def main(argv: list[str] | None = None) -> int:
    args, trainer_args = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        if args.command == "local":
            check_trainer_args(trainer_args)
            return run_local(trainer_args, args.output_dir or Path("runs") / f"local-{stamp}", args.replicas)
        if args.command == "tune":
            study, trial_spec = load_study(args.config)
            check_trainer_args([*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args])
            if args.local:
                return tune_local(study, trial_spec, trainer_args, args.output_dir or Path("runs") / f"tune-{stamp}", args.max_trials)
            return submit_tune(args, settings(args, os.environ, need_bucket=True), trainer_args, study, trial_spec)
        s = settings(args, os.environ, need_bucket=args.command == "train")
        if args.command == "build":
            return build(args, s)
        check_trainer_args(trainer_args)
        return submit_train(args, s, trainer_args)
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
