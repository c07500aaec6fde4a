# GPU training image for Vertex AI custom jobs and tuning trials.
# The official TensorFlow GPU image (CUDA and cuDNN included) at the version the tests run with;
# Vertex AI's prebuilt TensorFlow training images stop at 2.17.
FROM tensorflow/tensorflow:2.20.0-gpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY setup.py README.md ./
COPY trainer ./trainer
# The package without test extras; its requirements bring cloudml-hypertune and keep the image's TensorFlow.
RUN pip install --no-cache-dir . && python -c "import hypertune, trainer.task"

# Vertex AI appends the job's args (and each tuning trial's --parameter=value flags) to this.
ENTRYPOINT ["python", "-m", "trainer.task"]
