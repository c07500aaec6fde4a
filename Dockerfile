# Training image for Vertex AI custom jobs and tuning trials on CPUs and NVIDIA GPUs.
# TensorFlow from PyPI with its [and-cuda] extra, which pins the NVIDIA CUDA and cuDNN wheels TensorFlow
# was built against (https://www.tensorflow.org/install/pip); Vertex AI's host brings the GPU driver.
# Not the tensorflow/tensorflow:*-gpu images: from 2.18 on they have been reported not to register the
# GPU (tensorflow/tensorflow#81344, #88348). tests/test_images.py resolves this install for Linux x86-64.
# BASE and TENSORFLOW are build arguments so that a test build can swap in a stand-in base or a CPU-only
# TensorFlow; the defaults are what Vertex AI gets.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# TensorFlow in a layer of its own, before any of the trainer's files: a rebuild after an edit to the code
# takes it from the build cache and installs only the package (seconds, not minutes), and a serving image
# built here with the same TensorFlow shares it (Docker's and podman's layer cache match on the instruction).
ARG TENSORFLOW="tensorflow[and-cuda]==2.20.0"
# The version is pinned in the ARG, where hadolint cannot see it.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir "${TENSORFLOW}"

WORKDIR /app
COPY setup.py README.md ./
COPY trainer ./trainer
# TRAINER_TENSORFLOW makes the package require this TensorFlow, not plain `tensorflow`; the build fails
# here if TensorFlow does not import.
RUN TRAINER_TENSORFLOW="${TENSORFLOW}" pip install --no-cache-dir . \
    && python -c "import tensorflow, hypertune, trainer.task"

# Vertex AI appends the job's args (and each tuning trial's --parameter=value flags) to this.
ENTRYPOINT ["python", "-m", "trainer.task"]
