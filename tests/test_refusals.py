"""Every bad value a prober found, per launcher command: one line naming the flag or value (argparse's too: the
usage is a --help away), exit 2, nothing created in the fake Vertex AI and nothing written to its buckets.
test_refusals_offline.py has those made before credentials are looked for, test_trainer_refusals.py the trainer's
own."""

from __future__ import annotations

import pytest
from conftest import CLOUD, GOOD_STUDY, SAMPLE_TEST_IMAGES

from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")
DIGITS = str(SAMPLE_TEST_IMAGES)
FLEX = ["--dry-run", "--machine-type", "g2-standard-8", "--flex-start"]
NO_ENDPOINT = {"local", "serve", "build"}  # commands without --api-endpoint


def _files(vertex) -> set[str]:
    return {str(p) for p in vertex.storage_root.rglob("*")}


def refused(capsys, vertex, argv: list[str]) -> list[str]:
    """Run the launcher; assert exit 2, no traceback, nothing sent or written; return stderr's lines."""
    sent, files = len(vertex.requests), _files(vertex)
    if argv[0] not in NO_ENDPOINT and argv[:2] != ["tune", "--local"] and "--api-endpoint" not in argv:
        argv = [*argv, "--api-endpoint", vertex.endpoint]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(vertex.requests) == sent and _files(vertex) == files
    return err.strip().splitlines()


CASES = {
    "train-label-tool": (["train", *CLOUD, "--labels", "team=a,tool=other"], "--labels tool=other: tool is this tool's own label"),
    "train-replicas-0": (["train", *CLOUD, "--replicas", "0"], "argument --replicas: must be at least 1, got 0"),
    "train-replicas-negative": (["train", *CLOUD, "--replicas", "-1"], "argument --replicas: must be at least 1, got -1"),
    "train-accelerator-count-negative": (["train", *CLOUD, "--accelerator-count", "-1"], "argument --accelerator-count: must be at least 0, got -1"),
    "train-timeout-huge": (["train", *CLOUD, "--dry-run", "--timeout", "99999999999999d"], "--timeout 99999999999999d: not a duration from 1s to 30d"),
    "train-max-wait-huge": (["train", *CLOUD, *FLEX, "--max-wait", "99999999999999d"], "--max-wait 99999999999999d: not a duration from 0 (no limit) to 30d"),
    "tune-max-trials-0": (["tune", *CLOUD, "--max-trials", "0"], "argument --max-trials: must be at least 1, got 0"),
    "tune-label-tool": (["tune", *CLOUD, "--labels", "tool=x"], "--labels tool=x: tool is this tool's own label"),
    "local-replicas-0": (["local", "--replicas", "0"], "argument --replicas: must be from 1 to 8, got 0"),
    "local-replicas-negative": (["local", "--replicas", "-1"], "argument --replicas: must be from 1 to 8, got -1"),
    "local-replicas-over-cap": (["local", "--replicas", "9"], "argument --replicas: must be from 1 to 8, got 9"),
    "status-path": (["status", *CLOUD, "../../etc"], "job '../../etc': not an ID (e.g. 1234567890) nor a resource name"),
    "status-empty": (["status", *CLOUD, ""], "job '': not an ID"),
    "cancel-path": (["cancel", *CLOUD, "../../etc"], "job '../../etc': not an ID"),
    "logs-empty": (["logs", *CLOUD, ""], "job '': not an ID"),
    "predict-endpoint-path": (["predict", *CLOUD, "--endpoint", "../x", DIGITS], "--endpoint '../x': not an ID"),
    "undeploy-endpoint-empty": (["undeploy", *CLOUD, "--endpoint", ""], "--endpoint '': not an ID"),
    "deploy-min-replicas-0": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--min-replicas", "0"], "argument --min-replicas: must be at least 1, got 0"),
    "deploy-label-tool": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--labels", "tool=x"], "tool is this tool's own label"),
    "serve-port": (["serve", "--local", "--model-dir", "m", "--port", "70000"], "argument --port: must be from 1 to 65535, got 70000"),
    "status-unreachable": (["status", *CLOUD, "123", "--api-endpoint", "http://127.0.0.1:1"], "cannot reach 127.0.0.1:1: ConnectionError"),
    "list-unreachable": (["list", *CLOUD, "--api-endpoint", "http://127.0.0.1:1"], "cannot reach 127.0.0.1:1: ConnectionError"),
    "train-unreachable": (["train", *CLOUD, "--smoke", "--api-endpoint", "http://127.0.0.1:1"], "cannot reach 127.0.0.1:1"),
}  # fmt: skip
# The settings outside their documented formats (trainer/submit/names.py), on the commands that print a plan or a
# request with them: before, a line break or a bad name went into the plan, the request or the image's URI.
PROJECT, BUCKET = ["--project", "demo-project"], ["--bucket", "gs://demo-bucket"]
CASES |= {
    "setup-bucket-line-break": (["setup", *PROJECT, "--bucket", "gs://b\nc", "--dry-run"], "--bucket 'gs://b\\nc': 'b\\nc' is not a bucket name"),
    "train-bucket-upper-case": (["train", *PROJECT, "--bucket", "gs://My_Bucket", "--dry-run"], "--bucket gs://My_Bucket: My_Bucket is not a bucket name (3-63 lowercase"),
    "train-bucket-google": (["train", *PROJECT, "--bucket", "gs://my-google-data", "--dry-run"], "(not starting with goog nor holding google)"),
    "train-bucket-ip": (["train", *PROJECT, "--bucket", "gs://192.168.5.4", "--dry-run"], "192.168.5.4 is not a bucket name (not an IP address)"),
    "train-bucket-dot-dot": (["train", *PROJECT, "--bucket", "gs://demo-bucket/a/../b", "--dry-run"], "not a valid object path in the bucket"),
    "train-project-short": (["train", "--project", "p", *BUCKET, "--dry-run"], "--project p: not a project ID (6-30 lowercase letters"),
    "train-project-number": (["train", "--project", "123456789012", *BUCKET, "--dry-run"], "--project 123456789012: a project number; pass the project ID"),
    "train-project-domain": (["train", "--project", "example.com:my-project", *BUCKET, "--dry-run"], "a domain-scoped project ID"),
    "build-repository": (["build", *PROJECT, "--repository", "My_Repo", "--dry-run"], "--repository My_Repo: not an Artifact Registry repository ID"),
    "build-image-upper-case": (["build", *PROJECT, "--image", "Trainer", "--dry-run"], "--image Trainer: not an image name"),
    "build-tag-leading-dot": (["build", *PROJECT, "--tag", ".v1", "--dry-run"], "--tag .v1: not an image tag"),
    "train-tag-line-break": (["train", *CLOUD, "--tag", "v1\nx", "--dry-run"], "--tag 'v1\\nx': not an image tag"),
    "train-image-uri-line-break": (["train", *CLOUD, "--image-uri", "us-docker.pkg.dev/p/r/i\nx:1", "--dry-run"], "--image-uri 'us-docker.pkg.dev/p/r/i\\nx:1': not an image reference"),
    "train-image-uri-tag-and-digest": (["train", *CLOUD, "--image-uri", f"us-docker.pkg.dev/p/r/i:v1@sha256:{'a' * 64}", "--dry-run"], "both a tag and a digest, which Vertex AI refuses; keep one"),
    "tune-tpu-image-uri": (["tune", *CLOUD, "--tpu-image-uri", "gcr.io/p/UPPER:1", "--dry-run"], "--tpu-image-uri gcr.io/p/UPPER:1: not an image reference"),
    "train-service-account": (["train", *CLOUD, "--service-account", "trainer", "--dry-run"], "--service-account trainer: not a service account's email"),
    "train-tensorboard": (["train", *CLOUD, "--service-account", "t@p.iam.gserviceaccount.com", "--tensorboard", "tb-1", "--dry-run"], "--tensorboard tb-1: not a TensorBoard instance"),
    "deploy-model-dir-bucket": (["deploy", *CLOUD, "--model-dir", "gs://x/model"], "--model-dir gs://x/model: x is not a bucket name"),
    "batch-output-bucket": (["batch-predict", *CLOUD, "--model", "m", "--input", "gs://demo-bucket/in.png", "--output", "gs://goog-out/p"], "--output gs://goog-out/p: goog-out is not a bucket name"),
}  # fmt: skip
# Names and folders a job in the cloud cannot use, and two messages that named the wrong flag or broke the line.
CASES |= {
    "train-display-name-line-break": (["train", *CLOUD, "--display-name", "a\nb", "--dry-run"], "--display-name 'a\\nb': not a display name (1-128 printable"),
    "train-display-name-long": (["train", *CLOUD, "--display-name", "x" * 129, "--dry-run"], "not a display name (1-128 printable"),
    "train-display-name-dot-dot": (["train", *CLOUD, "--display-name", "..", "--dry-run"], "--display-name ..: names the job's output folder"),
    "tune-display-name-slash": (["tune", *CLOUD, "--display-name", "a/b", "--dry-run"], "--display-name a/b: not a display name"),
    "deploy-model-name-quote": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--model-name", 'a"b'], '--model-name a"b: not a display name'),
    "deploy-endpoint-name-long": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--endpoint-name", "e" * 129], "--endpoint-name eee"),
    "batch-model-quote": (["batch-predict", *CLOUD, "--model", 'x"y', "--input", "gs://demo-bucket/a.png", "--output", "gs://demo-bucket/o"], '--model x"y: not a display name'),
    "train-job-dir-local": (["train", *CLOUD, "--job-dir", "/tmp/x", "--dry-run"], "--job-dir /tmp/x: not in Cloud Storage, so the job's disk would hold it and lose it"),
    "tune-checkpoint-dir-local": (["tune", *CLOUD, "--checkpoint-dir", "ckpt", "--dry-run"], "--checkpoint-dir ckpt: not in Cloud Storage"),
    "train-data-dir-local": (["train", *CLOUD, "--data-dir", "/home/me/mnist", "--dry-run"], "--data-dir /home/me/mnist: a folder on this machine, which a job in the cloud cannot read"),
    "train-count-without-type": (["train", *CLOUD, "--machine-type", "e2-standard-4", "--accelerator-count", "2", "--dry-run"], "--accelerator-count 2: e2-standard-4 has no GPU of its own"),
    "train-n1-count-99": (["train", *CLOUD, "--accelerator-count", "99", "--dry-run"], "n1-standard-8 (8 vCPUs) takes NVIDIA_TESLA_T4 x 1 or 2 or 4"),
    "train-machine-line-break": (["train", *CLOUD, "--machine-type", "n1\nx", "--dry-run"], "--machine-type 'n1\\nx': not a machine type"),
    "deploy-serving-image-line-break": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--serving-image", "x\ny"], "--serving-image 'x\\ny': not an image reference"),
    "deploy-serving-machine": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--serving-machine-type", "bogus"], "--serving-machine-type bogus: not a machine type this model is served on"),
    "train-deploy-serving-machine": (["train", *CLOUD, "--deploy", "--serving-machine-type", "ct5lp-hightpu-4t", "--dry-run"], "--serving-machine-type ct5lp-hightpu-4t: not a machine type this model is served on"),
    "batch-machine": (["batch-predict", *CLOUD, "--model", "m", "--input", "gs://demo-bucket/a.png", "--output", "gs://demo-bucket/o", "--machine-type", "n1\nx"], "--machine-type 'n1\\nx': not a machine type this model is served on"),
    "deploy-unknown-line-break": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--machine-type", "x\ny"], "unknown arguments --machine-type 'x\\ny'"),
    "train-type-count-0": (["train", *CLOUD, "--accelerator-type", "NVIDIA_TESLA_T4", "--accelerator-count", "0", "--dry-run"], "--accelerator-type NVIDIA_TESLA_T4 with --accelerator-count 0: pass a count of at least 1"),
    "train-n1-99-vcpus": (["train", *CLOUD, "--machine-type", "n1-standard-99", "--dry-run"], "n1-standard-99 (99 vCPUs) takes no NVIDIA_TESLA_T4 (up to 96 vCPUs with it)"),
    "train-label-twice": (["train", *CLOUD, "--labels", "team=a,team=b", "--dry-run"], "--labels team=a,team=b: team given twice"),
    "train-deploy-endpoint-path": (["train", *CLOUD, "--deploy", "--endpoint", "../x", "--dry-run"], "--endpoint '../x': not an ID"),
    "train-model-dir-bucket-root": (["train", *CLOUD, "--model-dir", "gs://demo-bucket/", "--dry-run"], "--model-dir gs://demo-bucket/: is a bucket root; every export replaces the model folder, so give it one of its own, e.g. gs://demo-bucket/mnist/model"),
    "train-accelerator-contradicts-machine": (["train", *CLOUD, "--accelerator", "tpu", "--dry-run"], "--accelerator tpu: the job runs on n1-standard-8 with NVIDIA_TESLA_T4 (gpu); drop the flag"),
    "train-tpu-strategy-on-gpu": (["train", *CLOUD, "--distribute", "tpu", "--dry-run"], "--distribute tpu on n1-standard-8 with NVIDIA_TESLA_T4: TPUStrategy needs a TPU machine"),
    "train-mirrored-on-tpu": (["train", *CLOUD, "--machine-type", "ct5lp-hightpu-4t", "--distribute", "mirrored", "--dry-run"], "--distribute mirrored on ct5lp-hightpu-4t: a TPU trains only under TPUStrategy"),
    "train-mirrored-on-3-machines": (["train", *CLOUD, "--replicas", "3", "--distribute", "mirrored", "--dry-run"], "--distribute mirrored with --replicas 3: it trains on one machine, so each would train alone"),
    "train-blank-display-name": (["train", *CLOUD, "--display-name", "   ", "--dry-run"], "--display-name: only spaces; pass a name"),
    "deploy-blank-model-name": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--model-name", " "], "--model-name: only spaces"),
    "local-mirrored-on-2-processes": (["local", "--replicas", "2", "--distribute", "mirrored"], "--distribute mirrored with --replicas 2: it trains on one machine"),
    "deploy-empty-endpoint-name": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--endpoint-name", ""], "--endpoint-name '': not a display name"),
    "status-api-endpoint-bracket": (["status", *CLOUD, "123", "--api-endpoint", "http://[::1"], "--api-endpoint http://[::1: not an API endpoint (HOST[:PORT]"),
    "list-api-endpoint-port": (["list", *CLOUD, "--api-endpoint", "http://127.0.0.1:99999"], "--api-endpoint http://127.0.0.1:99999: not an API endpoint"),
    "train-api-endpoint-path": (["train", *CLOUD, "--api-endpoint", "http://127.0.0.1:5/v1", "--dry-run"], "--api-endpoint http://127.0.0.1:5/v1: not an API endpoint"),
    "local-trainer-flag": (["local", "--stage", "nope"], "trainer flags --stage nope: argument --stage: unknown stage 'nope'; choose one of"),
    # An empty value (`--flag "$UNSET"`) is refused, not taken for the default (was: a timestamped name, the
    # current folder, n1-standard-8, the machine's own GPU)
    "train-empty-display-name": (["train", *CLOUD, "--display-name", "", "--dry-run"], "--display-name '': not a display name"),
    "tune-empty-display-name": (["tune", *CLOUD, "--display-name", "", "--dry-run"], "--display-name '': not a display name"),
    "batch-empty-display-name": (["batch-predict", *CLOUD, "--model", "m", "--input", "gs://demo-bucket/a.png", "--output", "gs://demo-bucket/o", "--display-name", ""], "--display-name '': not a display name"),
    "local-empty-output-dir": (["local", "--output-dir", ""], "argument --output-dir: '' is not a folder"),
    "tune-local-empty-output-dir": (["tune", "--local", "--output-dir", ""], "argument --output-dir: '' is not a folder"),
    "train-empty-machine-type": (["train", *CLOUD, "--machine-type", "", "--dry-run"], "--machine-type '': not a machine type"),
    "train-empty-accelerator-type": (["train", *CLOUD, "--machine-type", "a2-highgpu-1g", "--accelerator-type", "", "--dry-run"], "--accelerator-type '': empty; pass a type"),
    # Above what the API's int32 fields hold: was a protobuf ValueError traceback as the request was built
    "train-replicas-huge": (["train", *CLOUD, "--replicas", "99999999999999999999", "--dry-run"], "argument --replicas: must be from 1 to 2147483647, got 99999999999999999999"),
    "tune-max-trials-huge": (["tune", *CLOUD, "--max-trials", "99999999999", "--dry-run"], "argument --max-trials: must be from 1 to 2147483647, got 99999999999"),
    "deploy-max-replicas-huge": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--max-replicas", "2147483648"], "argument --max-replicas: must be from 1 to 2147483647"),
    "serve-local-empty-model-dir": (["serve", "--local", "--model-dir", ""], "argument --model-dir: '' is not a folder"),
    "serve-local-gs-model-dir": (["serve", "--local", "--model-dir", "gs://demo-bucket/m"], "argument --model-dir: gs://demo-bucket/m: serve --local mounts a folder on this machine; copy the model here first"),
    "train-empty-project": (["train", *CLOUD, "--project", "", "--dry-run"], "--project '': empty; pass a value, or drop the flag to use $PROJECT_ID"),
    "status-empty-region": (["status", *CLOUD, "123", "--region", ""], "--region '': empty; pass a value, or drop the flag to use $REGION"),
    "train-blank-tag": (["train", *CLOUD, "--tag", " ", "--dry-run"], "--tag ' ': empty; pass a value, or drop the flag to use $TAG"),
    "train-empty-labels": (["train", *CLOUD, "--labels", "", "--dry-run"], "--labels '': empty; pass KEY=VALUE[,KEY=VALUE...], or drop the flag"),
    "tune-blank-labels": (["tune", *CLOUD, "--labels", " ", "--dry-run"], "--labels ' ': empty; pass KEY=VALUE"),
    # A name longer than the file system takes (255 bytes): was an OSError traceback
    "local-output-dir-too-long": (["local", "--output-dir", "x" * 300], "x: cannot hold the job's outputs (File name too long); pass a new folder"),
    "tune-config-too-long": (["tune", *CLOUD, "--config", "x" * 300, "--dry-run"], "x: cannot read (File name too long)"),
    # Docker takes an uppercase first component for a registry host (distribution's splitDockerDomain)
    "train-image-uri-uppercase-host": (["train", *CLOUD, "--image-uri", "MyRegistry/mnist:1", "--dry-run"], "--image-uri MyRegistry/mnist:1: MyRegistry would be taken for a registry host, which has no dot"),
    # A flag the other one makes unused (was: quietly unused)
    "deploy-endpoint-and-name": (["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--endpoint", "1", "--endpoint-name", "x"], "--endpoint 1 with --endpoint-name x: each names the endpoint to deploy to; drop one"),
    "train-deploy-endpoint-and-default-name": (["train", *CLOUD, "--deploy", "--endpoint", "1", "--endpoint-name", "mnist", "--dry-run"], "--endpoint 1 with --endpoint-name mnist: each names"),
    "train-endpoint-without-deploy": (["train", *CLOUD, "--endpoint", "1", "--dry-run"], "--endpoint 1: only with --deploy (./submit.sh train deploys nothing without it)"),
    "train-serving-flags-without-deploy": (["train", *CLOUD, "--serving-machine-type", "n1-standard-4", "--keep-previous", "--dry-run"], "--serving-machine-type n1-standard-4 --keep-previous: only with --deploy"),
    "tune-endpoint-name-without-deploy": (["tune", *CLOUD, "--endpoint-name", "e", "--dry-run"], "--endpoint-name e: only with --deploy (./submit.sh tune deploys nothing without it)"),
    "tune-local-max-replicas-without-deploy": (["tune", "--local", "--max-replicas", "3"], "--max-replicas 3: only with --deploy"),
    "tune-local-cloud-flags": (["tune", "--local", "--machine-type", "n1-standard-4", "--spot", "--labels", "a=b"], "--machine-type n1-standard-4 --spot --labels a=b: only for a tuning job in the cloud; tune --local runs the study's trials here"),
    "tune-local-display-name": (["tune", "--local", "--display-name", "x", "--api-endpoint", "http://127.0.0.1:1"], "--display-name x --api-endpoint http://127.0.0.1:1: only for a tuning job in the cloud"),
    "tune-cloud-container": (["tune", *CLOUD, "--container", "--dry-run"], "--container: only with --local"),
    "tune-cloud-output-dir": (["tune", *CLOUD, "--output-dir", "runs/x", "--dry-run"], "--output-dir: only with --local"),
    "build-local-settings": (["build", "--local", "--project", "p", "--image-uri", "gcr.io/p/i:1"], "--project p --image-uri gcr.io/p/i:1: only for Cloud Build; build --local builds here with podman"),
    "batch-model-and-model-name": (["batch-predict", *CLOUD, "--model", "m", "--model-name", "n", "--input", "gs://demo-bucket/a.png", "--output", "gs://demo-bucket/o"], "--model-name n: only with --model-dir, whose model is uploaded first; --model m is in the Model Registry"),
    "batch-model-and-serving-image": (["batch-predict", *CLOUD, "--model", "m@2", "--serving-image", "gcr.io/p/s:1", "--input", "gs://demo-bucket/a.png", "--output", "gs://demo-bucket/o"], "--serving-image gcr.io/p/s:1: only with --model-dir"),
}  # fmt: skip


@pytest.mark.parametrize("argv, message", CASES.values(), ids=CASES.keys())
def test_each_bad_value_is_one_line_exit_2_and_nothing_sent_or_written(vertex, capsys, argv, message):
    lines = refused(capsys, vertex, argv)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_a_study_file_whose_trial_machine_cannot_work_is_one_line_naming_the_file(vertex, capsys, tmp_path):
    """Was: a GPU type with no count gave every trial --accelerator=cpu, and the request carried the GPU."""
    config = tmp_path / "hptuning.yaml"
    config.write_text(GOOD_STUDY.replace("acceleratorCount: 1", "acceleratorCount: 0"))
    (line,) = refused(capsys, vertex, ["tune", *CLOUD, "--config", str(config), "--dry-run"])
    assert line.startswith(f"error: {config}: trialJobSpec.workerPoolSpecs[0].machineSpec: --accelerator-type "
                           "NVIDIA_TESLA_T4 with --accelerator-count 0: pass a count of at least 1"), line  # fmt: skip


@pytest.mark.parametrize("replicas, pools", [(3, 1), (1, 2)], ids=["chief-pool-of-3", "second-pool"])
def test_a_study_file_asking_for_more_machines_than_it_would_get_is_one_line(vertex, capsys, tmp_path, replicas, pools):
    """Was: the trials were sent on one machine, the file's other pools and replica count dropped without a word."""
    text = GOOD_STUDY.replace("replicaCount: 1", f"replicaCount: {replicas}")
    pool = text[text.index("  - machineSpec:") :]
    config = tmp_path / "hptuning.yaml"
    config.write_text(text + pool * (pools - 1))
    (line,) = refused(capsys, vertex, ["tune", *CLOUD, "--config", str(config), "--dry-run"])
    assert line == (f"error: {config}: trialJobSpec.workerPoolSpecs asks for {replicas + pools - 1} machines in "
                    f"{pools} pool(s); give one pool with replicaCount 1 and pass --replicas {replicas + pools - 1} "
                    "(the tool builds the chief's and the workers' pools from it, as for train)")  # fmt: skip


@pytest.mark.parametrize("typed", [False, True])
def test_a_trainer_flag_that_contradicts_the_machines_is_named_where_it_was_given(vertex, capsys, tmp_path, typed):
    """--distribute mirrored on two replicas: the line names the study file when the flag is in its args."""
    config = tmp_path / "hptuning.yaml"
    in_file = "" if typed else ", --distribute=mirrored"
    config.write_text(GOOD_STUDY.replace("--epochs=10]", f"--epochs=10{in_file}]"))
    argv = ["tune", *CLOUD, "--config", str(config), "--replicas", "2", "--dry-run", *(["--distribute", "mirrored"] if typed else [])]  # fmt: skip
    (line,) = refused(capsys, vertex, argv)
    where = "" if typed else f"{config}: trialJobSpec.workerPoolSpecs[0].containerSpec.args: "
    assert line.startswith(f"error: {where}--distribute mirrored with --replicas 2: it trains on one machine"), line


@pytest.mark.parametrize("kind", ["file", "not-a-study", "unmakeable"])
def test_a_local_sweep_folder_that_cannot_hold_the_study_is_one_line(vertex, capsys, tmp_path, kind):
    """Was: a FileExistsError, sqlalchemy's DatabaseError or FileNotFoundError traceback before any trial ran."""
    folder = {"file": tmp_path / "notes.txt", "not-a-study": tmp_path / "sweep", "unmakeable": tmp_path / "f" / "x"}[
        kind
    ]
    (tmp_path / "notes.txt").write_text("notes")
    (tmp_path / "f").write_text("a file where a folder would be")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "study.db").write_text("not a database")
    (line,) = refused(capsys, vertex, ["tune", "--local", "--output-dir", str(folder), "--max-trials", "1"])
    assert line.startswith(f"error: --output-dir {folder}: cannot hold or continue this study there ("), line
    assert not list((tmp_path / "sweep").iterdir())[1:] and not (tmp_path / "trial-1").exists()


def test_a_bad_setting_from_the_environment_names_its_variable(vertex, capsys, monkeypatch):
    monkeypatch.setenv("BUCKET", "gs://UPPER")
    (line,) = refused(capsys, vertex, ["train", *PROJECT, "--dry-run"])
    assert line.startswith("error: BUCKET gs://UPPER: UPPER is not a bucket name"), line


def test_an_empty_setting_flag_is_refused_not_replaced_by_the_environments_value(vertex, capsys, monkeypatch):
    """`--project "$UNSET"` was: the job sent to PROJECT_ID's project, which the flag was given to override."""
    monkeypatch.setenv("PROJECT_ID", "other-project")
    (line,) = refused(capsys, vertex, ["train", *CLOUD, "--project", "", "--dry-run"])
    assert line.startswith("error: --project '': empty;"), line


def test_an_infinite_learning_rate_is_refused_by_the_trainers_own_parser(vertex, capsys):
    """Was: the trainer's usage (20 lines) and its error, then the launcher's own line."""
    lines = refused(capsys, vertex, ["train", *CLOUD, "--learning-rate", "inf"])
    assert lines == [
        "error: trainer flags --learning-rate inf: argument --learning-rate: must be a finite number, got inf"
    ]


def test_a_credentials_path_that_is_a_folder_is_one_line_naming_it(vertex, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path))
    (line,) = refused(capsys, vertex, ["status", *CLOUD, "123"])
    assert line.startswith(
        f"error: GOOGLE_APPLICATION_CREDENTIALS={tmp_path}: not a readable key file (IsADirectoryError"
    )
