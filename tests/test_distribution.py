"""Distribution: the strategy and precision decisions, and real multi-replica training on this machine."""

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
from conftest import MNIST_DIR, REPO, read_metrics, run_trainer

from trainer import distribution


def tf_config(cluster: dict, task_type: str, index: int = 0) -> dict:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


CHIEF_AND_WORKER = {"chief": ["h0:1"], "worker": ["h1:1"]}


@pytest.mark.parametrize(
    "requested, tpu, environ, gpus, expected",
    [
        ("auto", None, {}, 0, "default"),
        ("auto", None, {}, 1, "default"),
        ("auto", None, {}, 4, "mirrored"),
        ("auto", None, tf_config({"worker": ["h0:1"]}, "worker"), 0, "default"),
        ("auto", None, tf_config({"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}, "worker", 1), 4, "multiworker"),
        ("auto", None, tf_config(CHIEF_AND_WORKER, "chief"), 0, "multiworker"),
        ("auto", None, tf_config({"master": ["h0:1"], "worker": ["h1:1"]}, "master"), 0, "multiworker"),
        (
            "auto",
            None,
            {
                "CLUSTER_SPEC": json.dumps(
                    {
                        "cluster": {"workerpool0": ["h0:1"], "workerpool1": ["h1:1"]},
                        "task": {"type": "workerpool0", "index": 0},
                    }
                )
            },
            1,
            "multiworker",
        ),
        ("auto", "my-tpu", {}, 0, "tpu"),
        ("auto", None, {"TPU_NAME": "local"}, 0, "tpu"),
        ("auto", None, {"TPU_NAME": "local", **tf_config(CHIEF_AND_WORKER, "chief")}, 0, "tpu"),
        ("default", None, {}, 4, "default"),
        ("mirrored", None, {}, 0, "mirrored"),
    ],
    ids=[
        "no-gpu",
        "one-gpu",
        "four-gpus",
        "tf-config-one-task",
        "tf-config-three-tasks",
        "chief-key",
        "master-key",
        "vertex-cluster-spec",
        "tpu-flag",
        "tpu-vm-env",
        "tpu-wins-over-cluster",
        "forced-default",
        "forced-mirrored",
    ],
)
def test_auto_strategy_decision(requested, tpu, environ, gpus, expected):
    assert distribution.choose_strategy(requested, tpu=tpu, environ=environ, num_gpus=gpus) == expected


@pytest.mark.parametrize(
    "requested, strategy, capabilities, cpu_bf16, expected",
    [
        ("auto", "default", [], False, "float32"),
        ("auto", "default", [], True, "mixed_bfloat16"),
        ("auto", "default", [(8, 0)], True, "mixed_float16"),
        ("auto", "mirrored", [(7, 5), (7, 5)], False, "mixed_float16"),
        ("auto", "default", [(6, 0)], True, "float32"),
        ("auto", "tpu", [], False, "mixed_bfloat16"),
        ("float32", "default", [(9, 0)], True, "float32"),
        ("mixed_bfloat16", "default", [], False, "mixed_bfloat16"),
    ],
    ids=[
        "cpu",
        "cpu-with-native-bf16",
        "ampere-gpu",
        "two-t4s",
        "pascal-gpu",
        "tpu",
        "forced-float32",
        "forced-bfloat16",
    ],
)
def test_precision_policy_per_device(requested, strategy, capabilities, cpu_bf16, expected):
    assert (
        distribution.choose_precision(
            requested, strategy=strategy, gpu_compute_capabilities=capabilities, cpu_bfloat16=cpu_bf16
        )
        == expected
    )


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    (tmp_path / "bf16").write_text("flags\t: fpu sse2 avx512f avx512_bf16 fma\n")
    (tmp_path / "plain").write_text("flags\t: fpu sse2 avx2 fma\n")
    assert distribution.cpu_supports_bfloat16(str(tmp_path / "bf16"))
    assert not distribution.cpu_supports_bfloat16(str(tmp_path / "plain"))
    assert not distribution.cpu_supports_bfloat16(str(tmp_path / "missing"))


def test_steps_per_execution_default_per_device():
    assert distribution.choose_steps_per_execution(None, strategy="default", num_gpus=0) == 8
    assert distribution.choose_steps_per_execution(None, strategy="default", num_gpus=1) == 8
    assert distribution.choose_steps_per_execution(None, strategy="mirrored", num_gpus=4) == 1
    assert distribution.choose_steps_per_execution(None, strategy="multiworker", num_gpus=0) == 1
    assert distribution.choose_steps_per_execution(None, strategy="tpu", num_gpus=0) == 50
    assert distribution.choose_steps_per_execution(7, strategy="tpu", num_gpus=0) == 7


def test_mixed_precision_keeps_the_softmax_in_float32(tmp_path):
    result = run_trainer(
        "--stage",
        "conv",
        "--precision",
        "mixed_bfloat16",
        "--data-dir",
        str(MNIST_DIR),
        "--job-dir",
        str(tmp_path),
        "--train-size",
        "2048",
        "--test-size",
        "500",
        "--epochs",
        "1",
        "--no-plots",
    )
    assert result.returncode == 0, result.stderr
    assert read_metrics(tmp_path)["distribution"]["precision"] == "mixed_bfloat16"
    import keras

    model = keras.saving.load_model(tmp_path / "model" / "model.keras")
    assert model.layers[1].compute_dtype == "bfloat16" and model.layers[-1].compute_dtype == "float32"


MIRRORED_ON_TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trainer import task
sys.exit(task.main(sys.argv[1:]))
"""


def test_mirrored_strategy_over_two_logical_cpus_trains(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRRORED_ON_TWO_CPUS,
            "--stage",
            "conv",
            "--distribute",
            "mirrored",
            "--scale-lr",
            "--data-dir",
            str(MNIST_DIR),
            "--job-dir",
            str(tmp_path),
            "--train-size",
            "8000",
            "--test-size",
            "2000",
            "--epochs",
            "2",
            "--learning-rate",
            "0.003",
            "--no-plots",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr
    assert "strategy: MirroredStrategy over 2 devices, " in result.stdout and ", global batch 256, " in result.stdout
    metrics = read_metrics(tmp_path)
    assert metrics["distribution"]["replicas"] == 2
    assert metrics["hyperparameters"]["batch_size"] == 256 and metrics["hyperparameters"]["learning_rate"] == 0.006
    assert metrics["test_accuracy"] > 0.93


# ---------------------------------------------------------------- real multi-worker training


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A chief and a worker as two local processes, as Vertex AI starts two replicas. Both are always killed."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root, self.args = root, args
        self.spec = {"chief": [f"127.0.0.1:{_free_port()}"], "worker": [f"127.0.0.1:{_free_port()}"]}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        for task_type in ("chief", "worker"):
            home = self.root / task_type  # the worker gets its own AIP dirs, to show it writes nothing there
            env = {
                **os.environ,
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

    def make(*args: str) -> Cluster:
        clusters.append(Cluster(tmp_path, *args))
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
    str(MNIST_DIR),
    "--test-size",
    "1000",
    "--peer-timeout",
    "30",
    "--no-plots",
]


def test_two_workers_train_together_and_only_the_chief_publishes(cluster, tmp_path):
    c = cluster(*ARGS, "--train-size", "4000", "--epochs", "1")
    c.start()
    assert c.wait(timeout=240) == {"chief": 0, "worker": 0}, c.log("chief")[-3000:] + c.log("worker")[-3000:]
    assert "strategy: MultiWorkerMirroredStrategy over 2 replicas on 2 workers" in c.log("chief")
    assert _final_accuracy(c.log("chief")) == _final_accuracy(c.log("worker"))
    chief, worker = tmp_path / "chief", tmp_path / "worker"
    assert (chief / "model" / "saved_model.pb").is_file() and (chief / "hypertune" / "output.metrics").is_file()
    assert read_metrics(chief)["distribution"]["replicas"] == 2
    assert (
        not (worker / "model").exists()
        and not (worker / "hypertune").exists()
        and not (worker / "metrics.json").exists()
    )


def test_a_killed_worker_fails_its_peer_in_bounded_time_and_both_resume(cluster, tmp_path):
    c = cluster(*ARGS, "--train-size", "8000", "--epochs", "4")
    c.start()
    backup = tmp_path / "checkpoints" / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 180
    while not backup.exists() and time.monotonic() < deadline and c.procs["chief"].poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # into the next epoch
    c.procs["worker"].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert c.procs["chief"].wait(timeout=120) == 1
    assert time.monotonic() - killed_at < 90
    last = c.log("chief").strip().splitlines()[-1]
    assert (
        last.startswith("error: chief-0 lost contact with worker-0") and "resume from the last backed-up epoch" in last
    )
    backed_up = json.loads(backup.read_text())["epoch"]
    assert backed_up in (1, 2, 3)

    rerun = cluster(*ARGS, "--train-size", "8000", "--epochs", "4")
    rerun.start()
    assert rerun.wait(timeout=240) == {"chief": 0, "worker": 0}, rerun.log("chief")[-3000:]
    for task_type in ("chief", "worker"):
        assert f"resuming from the backup after epoch {backed_up}" in rerun.log(task_type), task_type
    assert [e["epoch"] for e in read_metrics(tmp_path / "chief")["epochs"]] == [1, 2, 3, 4]
