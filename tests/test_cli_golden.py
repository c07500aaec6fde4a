"""The launcher's help and dry runs, byte for byte: a refactoring of ./submit.sh must not change what a user
sees or what a dry run would send. Saved once from the launcher (`python tests/test_cli_golden.py` rewrites
tests/golden/cli.json after an intended change; review its diff)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "cli.json"
CLOUD = ["--project", "demo-project", "--region", "us-central1", "--bucket", "gs://demo-bucket"]
NAME = ["--display-name", "golden"]
VARIABLES = ("PROJECT_ID", "REGION", "BUCKET", "REPOSITORY", "IMAGE", "TAG", "IMAGE_URI", "TPU_IMAGE_URI",
             "SERVICE_ACCOUNT", "TENSORBOARD", "VERTEX_API_ENDPOINT", "SERVING_IMAGE_URI", "MODEL_NAME",
             "CLOUDSDK_CORE_PROJECT", "CLOUDSDK_AI_REGION", "CLOUDSDK_ACTIVE_CONFIG_NAME")  # fmt: skip
COMMANDS = ["setup", "doctor", "build", "train", "tune", "local", "deploy", "predict", "undeploy", "logs", "batch-predict", "serve",
            "status", "list", "cancel"]  # fmt: skip
CASES = [
    ["--help"],
    *[[command, "--help"] for command in COMMANDS],
    ["setup", "--dry-run", "--project", "demo-project", "--bucket", "gs://demo-bucket"],
    ["build", "--dry-run", "--project", "demo-project"],
    ["build", "--tpu", "--dry-run", "--project", "demo-project", "--tag", "v2"],
    ["build", "--local", "--dry-run"],
    ["build", "--local", "--tpu", "--dry-run"],
    ["build", "--local", "--serving", "--dry-run"],
    ["train", *CLOUD, *NAME, "--dry-run"],
    ["train", *CLOUD, *NAME, "--dry-run", "--stage", "conv", "--epochs", "3"],
    ["train", *CLOUD, *NAME, "--dry-run", "--machine-type", "g2-standard-8", "--spot", "--timeout", "2h"],
    ["train", *CLOUD, *NAME, "--dry-run", "--machine-type", "a2-highgpu-1g", "--flex-start", "--max-wait", "3h"],
    ["train", *CLOUD, *NAME, "--dry-run", "--machine-type", "ct5lp-hightpu-4t"],
    ["train", *CLOUD, *NAME, "--dry-run", "--machine-type", "cloud-tpu", "--accelerator-type", "TPU_V3"],
    ["train", *CLOUD, *NAME, "--dry-run", "--replicas", "3", "--no-restart-on-worker-restart"],
    ["train", *CLOUD, *NAME, "--dry-run", "--accelerator-count", "0", "--labels", "team=vision,env=dev"],
    [
        "train",
        *CLOUD,
        *NAME,
        "--dry-run",
        "--service-account",
        "sa@demo-project.iam.gserviceaccount.com",
        "--tensorboard",
        "projects/demo-project/locations/us-central1/tensorboards/7",
    ],
    ["train", *CLOUD, *NAME, "--dry-run", "--deploy", "--min-replicas", "2", "--max-replicas", "3"],
    ["train", *CLOUD, *NAME, "--dry-run", "--image-uri", "gcr.io/x/y:z", "--api-endpoint", "http://localhost:1"],
    ["tune", *CLOUD, *NAME, "--dry-run"],
    ["tune", *CLOUD, *NAME, "--dry-run", "--max-trials", "4", "--parallel-trials", "2", "--timeout", "1h"],
    ["tune", *CLOUD, *NAME, "--dry-run", "--machine-type", "g2-standard-8", "--labels", "team=vision", "--spot"],
    ["tune", *CLOUD, *NAME, "--dry-run", "--machine-type", "ct5lp-hightpu-8t", "--replicas", "2"],
    ["tune", *CLOUD, "--dry-run"],  # the display name from hptuning.yaml (and a timestamp: see _stable)
    # refusals, one line each
    ["train", *CLOUD, "--dry-run", "--replicas", "0"],
    ["train", *CLOUD, "--dry-run", "--max-wait", "1h"],
    ["train", *CLOUD, "--dry-run", "--deploy", "--no-wait"],
    ["train", *CLOUD, "--dry-run", "--labels", "tool=x"],
    ["train", *CLOUD, "--dry-run", "--timeout", "99999d"],
    ["train", *CLOUD, "--dry-run", "--min-replicas", "3", "--max-replicas", "2", "--deploy"],
    ["train", "--dry-run", "--project", "demo-project"],
    ["train", *CLOUD, "--dry-run", "--region", "mars-central1"],
    ["train", *CLOUD, "--dry-run", "--stage", "nope"],
    ["tune", *CLOUD, "--dry-run", "--deploy", "--local"],
    ["build", "--serving", "--dry-run", "--project", "demo-project"],
    ["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/j/model", "--dry-run"],
    ["status", *CLOUD, "j", "extra"],
    ["serve", "--local", "--model-dir", "/nonexistent/model"],
    ["local", "--replicas", "9"],
    ["nope"],
]


def _stable(text: str) -> str:
    """The output without what differs between machines and runs: the clone's path, the hour, the source."""
    text = text.replace(str(REPO), "<REPO>")
    text = re.sub(r"\S*/podman\b", "podman", text)
    text = re.sub(r"src-[0-9a-f]{12}", "src-<SOURCE>", text)  # the source's digest: it changes with every edit
    text = re.sub(r'"source": "[0-9a-f]{12}"', '"source": "<SOURCE>"', text)
    return re.sub(r"\d{8}-\d{6}", "<TIME>", text)


def run(argv: list[str]) -> dict:
    """The launcher's exit status and output for argv, in this process, with settings from flags alone."""
    from trainer.submit import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return {"status": status, "stdout": _stable(out.getvalue()), "stderr": _stable(err.getvalue())}


def _environment(folder: Path) -> dict[str, str | None]:
    """The variables to set (None: unset): settings from flags alone (and an empty gcloud configuration), help at
    a fixed width, and a podman on PATH (build --local's dry run names it)."""
    (folder / "podman").write_text("#!/bin/sh\nexit 1\n")
    (folder / "podman").chmod(0o755)
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    return {**dict.fromkeys(VARIABLES), "COLUMNS": "100", "PATH": path, "CLOUDSDK_CONFIG": str(folder / "gcloud")}


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_the_launcher_prints_what_it_printed_before(argv, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    for name, value in _environment(tmp_path).items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    assert run(argv) == json.loads(GOLDEN.read_text())[" ".join(argv)]


if __name__ == "__main__":
    import tempfile

    os.chdir(REPO)
    for name, value in _environment(Path(tempfile.mkdtemp())).items():
        os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    GOLDEN.write_text(json.dumps({" ".join(c): run(c) for c in CASES}, indent=1, ensure_ascii=False) + "\n")
    sys.exit(0)
