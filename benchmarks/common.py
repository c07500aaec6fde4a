"""What every benchmark shares: the repository importable, TensorFlow's C++ chatter off, and
the real MNIST beside the repository (../shared/data/mnist). Import it before TensorFlow."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(REPO))


def cpu_precision(requested: str) -> str:
    """The precision the trainer would pick for `--precision requested` on this machine's CPU."""
    from trainer import distribution

    return distribution.choose_precision(
        requested, strategy="default", gpu_compute_capabilities=[], cpu_bfloat16=distribution.cpu_supports_bfloat16()
    )
