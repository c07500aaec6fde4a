"""Vertex AI's prebuilt TensorFlow prediction images, which `deploy` can serve a model with."""

from __future__ import annotations

SERVING_TENSORFLOW = "2.15"  # https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers
