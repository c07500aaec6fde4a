"""The images' installs, resolved for the platform Vertex AI runs them on (Linux x86-64, the base image's
Python) without downloading a wheel, and checked against TensorFlow's own package metadata: the GPU
image gets the CUDA and cuDNN wheels TensorFlow was built against, the TPU image the libtpu that
tensorflow-tpu asks for and no second TensorFlow. Needs the package index (PyPI), about a minute."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from packaging.requirements import Requirement

pytestmark = pytest.mark.index  # asks PyPI: in CI's second step, beside the container checks

# Debian bookworm has glibc 2.36: every manylinux tag up to it runs there.
PLATFORMS = ["manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in (17, 24, 27, 28, 31, 34, 35))]


def dockerfile_arg(dockerfile: str, name: str) -> str:
    """The default of `ARG NAME=...` in a Dockerfile."""
    match = re.search(rf'^ARG {name}="?([^"\n]+)"?$', (REPO / dockerfile).read_text(), re.M)
    return match.group(1)


def _python_version(dockerfile: str) -> str:
    return re.search(r"python:(\d+\.\d+)", dockerfile_arg(dockerfile, "BASE")).group(1)


def _resolve(dockerfile: str, requirements: list[str], folder: Path) -> subprocess.Popen:
    """pip's resolution of the image's install, as a report; nothing is downloaded but metadata."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        str(folder / "report.json"),
        "--only-binary=:all:",
        "--python-version",
        _python_version(dockerfile),
        *(f"--platform={p}" for p in PLATFORMS),
        "--target",
        str(folder / "target"),
        *requirements,
        str(REPO),
    ]
    env = {**os.environ, "TRAINER_TENSORFLOW": requirements[0]}  # as the Dockerfile's RUN line sets it
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """Both images' installs, resolved side by side: {image: {distribution name: its metadata}}."""
    images = {
        "gpu": ("Dockerfile", [dockerfile_arg("Dockerfile", "TENSORFLOW")]),
        "tpu": (
            "Dockerfile.tpu",
            [dockerfile_arg("Dockerfile.tpu", "TENSORFLOW"), dockerfile_arg("Dockerfile.tpu", "LIBTPU")],
        ),
    }
    folders = {image: tmp_path_factory.mktemp(image) for image in images}
    procs = {
        image: _resolve(dockerfile, requirements, folders[image])
        for image, (dockerfile, requirements) in images.items()
    }
    answers = {}
    for image, proc in procs.items():
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, output[-3000:]
        report = json.loads((folders[image] / "report.json").read_text())
        answers[image] = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"] for i in report["install"]}
    return answers


def _requirements(metadata: dict, extra: str | None = None) -> list[Requirement]:
    """A distribution's requirements that apply on Linux x86-64, with the given extra asked for."""
    environment = {
        "extra": extra or "",
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "python_version": "3.11",
    }
    found = [Requirement(r) for r in metadata.get("requires_dist", [])]
    return [r for r in found if r.marker is None or r.marker.evaluate(environment)]


def test_the_gpu_image_gets_the_cuda_and_cudnn_wheels_tensorflow_was_built_against(resolved):
    gpu = resolved["gpu"]
    assert gpu["tensorflow"]["version"] == "2.20.0"
    nvidia = [r for r in _requirements(gpu["tensorflow"], "and-cuda") if r.name.startswith("nvidia-")]
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12"} <= {r.name for r in nvidia}
    for requirement in nvidia:
        assert requirement.name in gpu, f"{requirement} is not installed"
        assert gpu[requirement.name]["version"] in requirement.specifier, (
            requirement,
            gpu[requirement.name]["version"],
        )
    assert not {"tensorflow-cpu", "tensorflow-tpu", "tensorflow-intel"} & set(gpu)


def test_the_tpu_image_gets_the_libtpu_tensorflow_tpu_asks_for_and_no_second_tensorflow(resolved):
    tpu = resolved["tpu"]
    assert tpu["tensorflow-tpu"]["version"] == "2.20.0"
    (libtpu,) = [r for r in _requirements(tpu["tensorflow-tpu"]) if r.name == "libtpu"]
    assert tpu["libtpu"]["version"] in libtpu.specifier
    assert f"libtpu=={tpu['libtpu']['version']}" == dockerfile_arg("Dockerfile.tpu", "LIBTPU")
    assert "tensorflow" not in tpu, (
        "tensorflow-tpu provides the tensorflow module; a second TensorFlow would overwrite it"
    )
    assert "mnist-vertex-trainer" in tpu and "mnist-vertex-trainer" in resolved["gpu"]
