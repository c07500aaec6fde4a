"""Shared fixtures: the real MNIST files, and the trainer run the way a user runs it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"
SAMPLE_DIR = REPO / "trainer" / "sample"
# A tiny but real training run: enough steps to exercise everything, seconds on 2 cores.
TINY = ["--train-size", "512", "--test-size", "500", "--epochs", "1"]
# The launcher's cloud settings for tests that submit (to the fake) or print a dry run.
CLOUD = ["--project", "demo-project", "--region", "us-central1", "--bucket", "gs://demo-bucket"]


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
    the seconds a new process spends importing TensorFlow. Keep run_trainer where a real process matters."""
    from trainer import task

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = task.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def tf_config(cluster: dict, task_type: str, index: int = 0) -> dict:
    """The TF_CONFIG variable Vertex AI sets for this replica, as an environment mapping."""
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def read_metrics(job_dir: Path) -> dict:
    return json.loads((job_dir / "metrics.json").read_text())


@pytest.fixture
def mnist_copy(tmp_path: Path) -> Path:
    """A writable copy of the four real MNIST files, for corrupting."""
    folder = tmp_path / "mnist"
    shutil.copytree(MNIST_DIR, folder, ignore=shutil.ignore_patterns("README*"))
    return folder


SETTINGS_VARIABLES = ("PROJECT_ID", "REGION", "BUCKET", "REPOSITORY", "IMAGE", "TAG", "IMAGE_URI", "TPU_IMAGE_URI",
                      "SERVICE_ACCOUNT", "VERTEX_API_ENDPOINT")  # fmt: skip


@pytest.fixture
def clean_settings(monkeypatch):
    """Launcher settings come only from each test's flags, never from the machine's environment."""
    for var in SETTINGS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def vertex(tmp_path_factory):
    """The fake Vertex AI API, shared by every test that submits; the SDK polls it every second, not every five."""
    from fake_vertex import FakeVertex
    from google.cloud.aiplatform import jobs as sdk_jobs

    sdk_jobs._JOB_WAIT_TIME = 1
    with FakeVertex(tmp_path_factory.mktemp("gcs")) as fake:
        yield fake
