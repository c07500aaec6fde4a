"""Trainer processes held at the start of an epoch (tests/pause/sitecustomize.py), for the tests that kill,
stop or prune them at a point of their choosing."""

from __future__ import annotations

import os
import time
from pathlib import Path

HOOK = Path(__file__).resolve().parent / "pause"  # on the trainer processes' PYTHONPATH: sitecustomize.py


class Pause:
    """Holds trainer processes at the start of an epoch until the test says go (tests/pause/sitecustomize.py), so
    that a kill, a SIGTERM or the median rule lands where the test wants whatever the CPU's speed. `spec` is the
    hook's PAUSE value, e.g. "epoch=1": hold before epoch 2, after epoch 1's backup and metric report."""

    def __init__(self, folder: Path, spec: str) -> None:
        self.folder, self.spec = folder, spec
        folder.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(HOOK), os.environ.get("PYTHONPATH")) if p)
        return {"PYTHONPATH": path, "PAUSE": self.spec, "PAUSE_DIR": str(self.folder)}

    def held(self) -> list[str]:
        """The processes holding now, as ROLE-PID (ROLE: trialN, chief0, worker0, ...)."""
        return sorted(p.name.removeprefix("held-") for p in self.folder.glob("held-*"))

    def wait(self, count: int = 1, running=lambda: True, timeout: float = 300) -> list[str]:
        """Wait until `count` processes hold, while `running()` (e.g. a process not yet ended)."""
        deadline = time.monotonic() + timeout
        while len(self.held()) < count:
            assert running(), f"ended before {count} process(es) held at {self.spec}"
            assert time.monotonic() < deadline, f"no {count} process(es) held at {self.spec} within {timeout} s"
            time.sleep(0.05)
        return self.held()

    def go(self) -> None:
        (self.folder / "go").touch()
