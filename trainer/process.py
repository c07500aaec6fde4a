"""How the package's commands end their process."""

from __future__ import annotations

import gc
import sys
from typing import NoReturn


def end(code: int) -> NoReturn:
    """sys.exit(code) without the interpreter's last garbage collections, for a command's `__main__`.

    With TensorFlow or the aiplatform SDK loaded, Python's shutdown walks millions of tracked objects in its final
    collections: 1.2-1.4 CPU-seconds of a trainer's or trainer.predict's process on an AVX2 CPU, where gc.freeze()
    leaves 0.2 (benchmarks/shutdown.py, docs/performance.md). Freezing moves them out of the collector's sight;
    the rest of the shutdown is unchanged: atexit handlers, threads joined, streams flushed, objects freed. Only
    garbage in reference cycles goes unfinalized, and no output waits on it: every file the commands write is
    closed by a `with` (or by Keras' TensorBoard callback, at the end of training) before main returns."""
    gc.freeze()
    sys.exit(code)
