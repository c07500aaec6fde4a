"""What every benchmark shares: the repository importable, TensorFlow's C++ chatter off, and where the full
MNIST comes from (--data-dir; by default the trainer's own source, the public bucket, downloaded once into
its cache). Import it before TensorFlow."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR_HELP = (
    "the four MNIST files: gs://BUCKET/PREFIX, /gcs/..., or a local folder "
    "(default: %(default)s, the trainer's own source, downloaded once into its cache)"
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(REPO))

from trainer.data import DEFAULT_DATA_DIR  # noqa: E402  (after the path and the log level)

__all__ = ["DATA_DIR_HELP", "DEFAULT_DATA_DIR", "REPO", "cpu_precision"]


def cpu_precision(requested: str) -> str:
    """The precision the trainer would pick for `--precision requested` on this machine's CPU."""
    from trainer import distribution

    return distribution.choose_precision(
        requested, strategy="default", gpu_compute_capabilities=[], cpu_bfloat16=distribution.cpu_supports_bfloat16()
    )
