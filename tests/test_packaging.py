"""Packaging: the Cloud Build command and config, the Dockerfiles under hadolint, the shell scripts under
shellcheck, submit.sh, and the sdist installed into a fresh environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from trainer.submit import cli, source

pytestmark = pytest.mark.usefixtures("clean_settings")


def test_build_derives_the_cloud_build_substitutions_from_the_job_settings(capsys):
    assert (
        cli.main(
            [
                "build",
                "--project",
                "demo-project",
                "--region",
                "europe-west4",
                "--repository",
                "ml",
                "--tag",
                "v3",
                "--dry-run",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == (
        "gcloud builds submit --project demo-project --region europe-west4 --config cloudbuild.yaml "
        "--substitutions=_REGION=europe-west4,_REPOSITORY=ml,_IMAGE=mnist-trainer,_TAG=v3,_SERVING_TAG=v3 ."
    )


def test_cloudbuild_pushes_the_tag_and_latest_with_a_default_for_every_substitution():
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    image = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_IMAGE}"
    serving = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVING_IMAGE}"  # Dockerfile.serving's
    assert build["images"] == [
        f"{image}:${{_TAG}}",
        f"{image}:latest",
        f"{serving}:${{_SERVING_TAG}}",
        f"{serving}:latest",
    ]
    assert [step["args"][1] for step in build["steps"]] == ["--file=${_DOCKERFILE}", "--file=Dockerfile.serving"]
    used = {name for text in json.dumps(build["steps"]).split("${")[1:] for name in [text.split("}")[0]]}
    assert used <= set(build["substitutions"])


@pytest.mark.parametrize(
    "dockerfile, tensorflow",
    [("Dockerfile", "tensorflow[and-cuda]==2.20.0"), ("Dockerfile.tpu", "tensorflow-tpu==2.20.0"),
     ("Dockerfile.serving", "tensorflow==2.20.0")],
)  # fmt: skip
def test_dockerfiles_are_clean_under_hadolint_and_run_the_trainer(dockerfile, tensorflow):
    result = subprocess.run(
        [Path(sys.executable).parent / "hadolint", dockerfile], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (REPO / dockerfile).read_text()
    entry = "trainer.server" if dockerfile == "Dockerfile.serving" else "trainer.task"
    assert f'ENTRYPOINT ["python", "-m", "{entry}"]' in text
    assert "ARG BASE=python:3.11-slim-bookworm\nFROM ${BASE}" in text and f'ARG TENSORFLOW="{tensorflow}"' in text
    assert re.search(rf'python -c "import tensorflow, .*{entry}"', text), (
        "the build fails if TensorFlow does not import"
    )
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {"tests", ".git", "benchmarks", ".hypothesis", ".mypy_cache"} <= ignored  # the tools' caches too


def test_shell_scripts_are_clean_under_shellcheck():
    result = subprocess.run(
        [Path(sys.executable).parent / "shellcheck", "submit.sh", ".ci/run", "podman-setup.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
    assert "set -euo pipefail" in (REPO / "submit.sh").read_text() and "eval" not in (REPO / "submit.sh").read_text()


def test_cis_second_step_lists_every_module_with_a_test_it_selects_and_the_readme_shows_it():
    """.ci/run names step 2's modules in the order that balances its two workers (docs/testing.md): a module of
    index, serving_image or container tests left off the list would never run in CI."""
    (step_2,) = [line for line in (REPO / ".ci/run").read_text().splitlines() if line.startswith("pytest -n 2 ")]
    listed = [word for word in step_2.split() if word.startswith("tests/")]
    marked = [
        f"tests/{path.name}"
        for path in (REPO / "tests").glob("test_*.py")
        if re.search(r"pytest\.mark\.(index|serving_image|container)\b", path.read_text())
    ]
    assert sorted(listed) == sorted(marked) and len(set(listed)) == len(listed)
    assert f"./podman-setup.sh && {step_2}" in (REPO / "README.md").read_text()


def test_ci_runs_the_readmes_test_command():
    """The README's second command is what CI runs first (the install line of .ci/run, then pytest), so a change to
    either shows here."""
    lines = (REPO / ".ci/run").read_text().splitlines()
    (install,) = [line for line in lines if line.startswith("python3 -m venv .venv")]
    assert lines[lines.index(install) + 1 :][:3] == ["ruff check . && ruff format --check .", "mypy", "pytest"]
    assert f"{install} && pytest\n" in (REPO / "README.md").read_text()


def test_submit_sh_passes_its_arguments_to_the_submitter(tmp_path):
    result = subprocess.run(
        ["./submit.sh", "train", "--project", "demo-project", "--bucket", "not-a-bucket"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "error: --bucket not-a-bucket: must be in Cloud Storage, gs://BUCKET"
    )


@pytest.mark.index  # pip builds the sdist in an isolated environment from PyPI's setuptools
def test_the_sdist_installs_into_a_fresh_environment_and_trains(tmp_path):
    """As Vertex AI's Python-package training and the container install it: from the sdist alone. The
    dependencies are this environment's (a .pth file), so pip checks the sdist's requirements against them
    and installs the package only, in seconds; the whole install from PyPI is the image's
    (tests/test_container.py), and its resolution for Linux x86-64 is tests/test_images.py's."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=REPO, check=True, capture_output=True
    )
    (sdist,) = tmp_path.glob("mnist?vertex?trainer-*.tar.gz")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True
    )
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([python, "-m", "pip", "install", str(sdist)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    assert re.fullmatch(r"Successfully installed mnist-vertex-trainer-[\w.]+", install.stdout.strip().splitlines()[-1])
    run = subprocess.run(
        [python, "-m", "trainer.task", "--smoke", "--job-dir", str(tmp_path / "job")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"digits from {site.stdout.strip()}/trainer/sample" in run.stdout  # the installed copy, not this tree
    assert (tmp_path / "job" / "model" / "saved_model.pb").is_file()


def test_build_tpu_builds_dockerfile_tpu_as_an_image_of_its_own(capsys):
    assert cli.main(["build", "--project", "demo-project", "--tpu", "--dry-run"]) == 0
    command = capsys.readouterr().out.strip()
    tpu, serving = source.tag("Dockerfile.tpu"), source.tag("Dockerfile.serving")  # each image's source tag
    assert command.endswith(
        f"--substitutions=_REGION=us-central1,_REPOSITORY=mnist,_IMAGE=mnist-trainer-tpu,_TAG={tpu},"
        f"_SERVING_TAG={serving},_DOCKERFILE=Dockerfile.tpu ."
    )
