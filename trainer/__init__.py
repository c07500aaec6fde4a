"""mnist-vertex-trainer: the "Keras without a PhD" MNIST stages as a Vertex AI training package."""

import os

# Before anything imports TensorFlow, which reads both once, at import:
# - keep its C++ start-up chatter out of job logs and one-line errors;
# - train on its oneDNN kernels. TensorFlow (2.9 and later) turns them on by itself only on CPUs with AVX512_VNNI,
#   AVX512_BF16 or AMX; on an AVX2-only CPU, what most laptops have, it leaves them off, and the codelab's conv models
#   train 1.35-2.4x faster with them on (docs/performance.md). TF_ENABLE_ONEDNN_OPTS=0 still turns them off.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
