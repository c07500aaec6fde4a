"""mnist-vertex-trainer: the "Keras without a PhD" MNIST stages as a Vertex AI training package."""

import os

# Before anything imports TensorFlow: keep its C++ start-up chatter out of job logs and one-line errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
