"""What every benchmark shares: the repository importable, TensorFlow's C++ chatter off, and where the full
MNIST comes from (--data-dir; by default the trainer's own source, the public bucket, downloaded once into
its cache). Import it before TensorFlow where the trainer's side runs: it imports the trainer, whose TensorFlow
settings (oneDNN on) apply only to a TensorFlow imported after them."""

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
# The caller's environment before the trainer adds its defaults: what a notebook's TensorFlow would see.
CALLER_ENVIRONMENT = dict(os.environ)

from trainer.data import DEFAULT_DATA_DIR  # noqa: E402  (after the path and the log level)

__all__ = ["CALLER_ENVIRONMENT", "DATA_DIR_HELP", "DEFAULT_DATA_DIR", "REPO", "cpu_precision", "onednn"]


def cpu_precision(requested: str) -> str:
    """The precision the trainer would pick for `--precision requested` on this machine's CPU."""
    from trainer import distribution

    return distribution.choose_precision(
        requested, strategy="default", gpu_compute_capabilities=[], cpu_bfloat16=distribution.cpu_supports_bfloat16()
    )


def onednn() -> str:
    """Whether this process's TensorFlow runs on its oneDNN kernels, "on" or "off" (decided once, at its import)."""
    from tensorflow.python.util import _pywrap_util_port  # no public API tells

    return "on" if _pywrap_util_port.IsMklEnabled() else "off"
