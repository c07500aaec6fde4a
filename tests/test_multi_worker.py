"""Real multi-worker training: a chief and a worker as two local processes, as Vertex AI starts two
replicas; a killed worker fails its peer in bounded time, both resume, and only the chief publishes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DIR, read_metrics, tf_config

pytestmark = pytest.mark.long


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A chief and a worker as two local processes, as Vertex AI starts two replicas. Both are always killed."""

    def __init__(self, root: Path, *args: str, env: dict | None = None) -> None:
        self.root, self.args, self.env = root, args, env or {}
        self.spec = {"chief": [f"127.0.0.1:{_free_port()}"], "worker": [f"127.0.0.1:{_free_port()}"]}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        for task_type in ("chief", "worker"):
            home = self.root / task_type  # the worker gets its own AIP dirs, to show it writes nothing there
            env = {
                **os.environ,
                **self.env,
                "PYTHONUNBUFFERED": "1",
                **tf_config(self.spec, task_type),
                "AIP_MODEL_DIR": str(home / "model"),
                "AIP_TENSORBOARD_LOG_DIR": str(home / "logs"),
                "AIP_CHECKPOINT_DIR": str(self.root / "checkpoints"),
                "CLOUD_ML_HP_METRIC_FILE": str(home / "hypertune" / "output.metrics"),
            }
            log = open(self.root / f"{task_type}.log", "w")
            self.procs[task_type] = subprocess.Popen(
                [sys.executable, "-m", "trainer.task", *self.args],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        return {name: proc.wait(timeout=max(1, deadline - time.monotonic())) for name, proc in self.procs.items()}

    def log(self, task_type: str) -> str:
        return (self.root / f"{task_type}.log").read_text()

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    clusters = []

    def make(*args: str, env: dict | None = None) -> Cluster:
        clusters.append(Cluster(tmp_path, *args, env=env))
        return clusters[-1]

    yield make
    for c in clusters:
        c.kill()


def _final_accuracy(log: str) -> str:
    return re.search(r"^done: .* test accuracy ([\d.]+%)", log, re.M).group(1)


ARGS = [
    "--stage",
    "batchnorm",
    "--data-dir",
    str(SAMPLE_DIR),
    "--test-size",
    "500",
    "--peer-timeout",
    "30",
    "--no-plots",
]


def test_two_workers_train_together_a_killed_one_fails_its_peer_in_bounded_time_and_only_the_chief_publishes(
    cluster, tmp_path, pause
):
    """One cluster killed midway and its rerun: the rerun is the two workers that train together to the end."""
    held = pause("epoch=1")  # both hold before epoch 2, with epoch 1 backed up, until the worker is killed
    c = cluster(*ARGS, "--train-size", "1024", "--epochs", "3", env=held.env())
    c.start()
    backup = tmp_path / "checkpoints" / "backup" / "training_metadata.json"
    held.wait(2, running=lambda: all(p.poll() is None for p in c.procs.values()))
    c.procs["worker"].send_signal(signal.SIGKILL)
    c.procs["worker"].wait()
    held.go()  # the chief goes on into epoch 2 without its peer
    killed_at = time.monotonic()
    assert c.procs["chief"].wait(timeout=120) == 1
    assert time.monotonic() - killed_at < 90
    last = c.log("chief").strip().splitlines()[-1]
    assert (
        last.startswith("error: chief-0 lost contact with worker-0") and "resume from the last backed-up epoch" in last
    )
    backed_up = json.loads(backup.read_text())["epoch"]
    assert backed_up == 1

    rerun = cluster(*ARGS, "--train-size", "1024", "--epochs", "3")
    rerun.start()
    assert rerun.wait(timeout=240) == {"chief": 0, "worker": 0}, rerun.log("chief")[-3000:]
    for task_type in ("chief", "worker"):
        assert f"resuming from the backup after epoch {backed_up}" in rerun.log(task_type), task_type
    assert [e["epoch"] for e in read_metrics(tmp_path / "chief")["epochs"]] == [1, 2, 3]
    assert "strategy: MultiWorkerMirroredStrategy over 2 replicas on 2 workers" in rerun.log("chief")
    assert _final_accuracy(rerun.log("chief")) == _final_accuracy(rerun.log("worker"))
    chief, worker = tmp_path / "chief", tmp_path / "worker"
    assert (chief / "model" / "saved_model.pb").is_file() and (chief / "hypertune" / "output.metrics").is_file()
    assert read_metrics(chief)["distribution"]["replicas"] == 2
    assert (
        not (worker / "model").exists()
        and not (worker / "hypertune").exists()
        and not (worker / "metrics.json").exists()
    )
