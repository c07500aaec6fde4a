"""Distribution: the strategy and precision decisions, and two replicas on two logical CPUs (two workers
in two processes are in test_multi_worker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLE_DIR, read_metrics, run_in_process, tf_config

from trainer import cluster, distribution

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


def test_the_mirrored_strategy_in_a_cluster_of_several_tasks_is_refused():
    """Was: each machine of a multi-worker job trained alone under it."""
    with pytest.raises(cluster.ClusterError, match=r"^--distribute mirrored: trains on one machine, and this "
                       r"job's cluster \(TF_CONFIG or CLUSTER_SPEC\) has 2 training tasks"):  # fmt: skip
        distribution.choose_strategy("mirrored", tpu=None, environ=tf_config(CHIEF_AND_WORKER, "chief"), num_gpus=0)


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


def test_mixed_precision_keeps_the_softmax_in_float32_and_gives_the_process_its_policy_back(tmp_path):
    import keras

    before = keras.mixed_precision.global_policy().name
    result = run_in_process(
        "--stage",
        "conv",
        "--precision",
        "mixed_bfloat16",
        "--data-dir",
        str(SAMPLE_DIR),
        "--job-dir",
        str(tmp_path),
        "--train-size",
        "256",
        "--test-size",
        "100",
        "--epochs",
        "1",
        "--no-plots",
    )
    assert result.returncode == 0, result.stderr
    assert read_metrics(tmp_path)["distribution"]["precision"] == "mixed_bfloat16"
    assert (
        before != "mixed_bfloat16" and keras.mixed_precision.global_policy().name == before
    )  # Keras's is process-wide
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
            str(SAMPLE_DIR),
            "--job-dir",
            str(tmp_path),
            "--train-size",
            "5000",
            "--test-size",
            "500",
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


VERTEX_WORKER = {
    "cluster": {"workerpool0": ["a:1"], "workerpool1": ["b:1"]},
    "task": {"type": "workerpool1", "index": 0},
}
VERTEX_SINGLE = {"cluster": {"workerpool0": ["a:1"]}, "task": {"type": "workerpool0", "index": 0}}


@pytest.mark.parametrize(
    "environ, role",
    [
        ({}, ("chief", 0, 1, True)),
        (tf_config(CHIEF_AND_WORKER, "chief"), ("chief", 0, 2, True)),
        (tf_config(CHIEF_AND_WORKER, "worker"), ("worker", 0, 2, False)),
        (tf_config({"master": ["a:1"], "worker": ["b:1", "c:1"]}, "master"), ("master", 0, 3, True)),
        (tf_config({"worker": ["a:1", "b:1"]}, "worker"), ("worker", 0, 2, True)),
        ({"CLUSTER_SPEC": json.dumps(VERTEX_WORKER)}, ("worker", 0, 2, False)),
        ({"CLUSTER_SPEC": json.dumps(VERTEX_SINGLE)}, ("chief", 0, 1, True)),
    ],
    ids=[
        "no-cluster",
        "chief",
        "worker-0-beside-chief",
        "master-key",
        "worker-0-no-chief",
        "vertex-worker",
        "vertex-single",
    ],
)
def test_task_role_from_tf_config_or_cluster_spec(environ, role):
    r = cluster.task_role(environ)
    assert (r.task_type, r.index, r.num_tasks, r.is_chief) == role


@pytest.mark.parametrize(
    "task_name, name",
    [
        ("workerpool0-0", "chief"),
        ("workerpool1-0", "worker-1"),  # the chief is worker 0 of the cluster, so the first worker is 1
        ("workerpool1-2", "worker-3"),
        ("workerpool2-0", "ps-0"),
        ("workerpool3-0", "evaluator-0"),
        ("workerpool1-x", "workerpool1-x"),
        ("trial-3", "trial-3"),
        ("", "?"),
    ],
)
def test_a_replica_is_named_in_logs_from_vertex_ais_task_name(task_name, name):
    assert cluster.replica_name(task_name) == name


@pytest.mark.parametrize("variable", ["TF_CONFIG", "CLUSTER_SPEC"])
def test_a_cluster_variable_that_is_not_a_cluster_is_one_line_exit_2_and_nothing_written(variable, tmp_path):
    """A stale or hand-written TF_CONFIG on a laptop was a JSONDecodeError traceback."""
    result = run_in_process("--smoke", "--job-dir", str(tmp_path / "job"), env={variable: "{not json"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: ${variable}: not valid JSON (")
    assert not (tmp_path / "job").exists()
