"""GPU and TPU jobs: requests checked against Vertex AI's compute table, the trainer failing fast without
its hardware, and a cancelled job resumed by resubmitting it (the API's error answers: test_api_errors.py)."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import CLOUD, SAMPLE_DIR, read_metrics, run_in_process
from google.cloud import aiplatform_v1

from trainer import distribution
from trainer.submit import cli, credentials, source
from trainer.submit import vertex as jobs
from trainer.submit.settings import settings

pytestmark = pytest.mark.usefixtures("clean_settings")
IMAGE = "us-central1-docker.pkg.dev/demo-project/mnist/mnist-trainer"


def _dry_run(capsys, *argv: str) -> aiplatform_v1.CustomJob:
    assert cli.main(["train", *CLOUD, "--dry-run", "--stage=conv", *argv]) == 0
    return aiplatform_v1.CustomJob.from_json(capsys.readouterr().out, ignore_unknown_fields=False)


GOOD = {
    "t4-on-n1": (
        ["--machine-type", "n1-standard-8", "--accelerator-type", "NVIDIA_TESLA_T4"],
        dict(machine_type="n1-standard-8", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1),
        "gpu",
    ),
    "l4-on-g2": (
        ["--machine-type", "g2-standard-8", "--accelerator-type", "NVIDIA_L4"],
        dict(machine_type="g2-standard-8", accelerator_type="NVIDIA_L4", accelerator_count=1),
        "gpu",
    ),
    "a100-on-a2": (
        ["--machine-type", "a2-highgpu-2g"],
        dict(machine_type="a2-highgpu-2g", accelerator_type="NVIDIA_TESLA_A100", accelerator_count=2),
        "gpu",
    ),
    "v5e": (["--machine-type", "ct5lp-hightpu-4t"], dict(machine_type="ct5lp-hightpu-4t", tpu_topology="2x2"), "tpu"),
    "v3-8": (
        ["--machine-type", "cloud-tpu", "--accelerator-type", "TPU_V3", "--accelerator-count", "8"],
        dict(machine_type="cloud-tpu", accelerator_type="TPU_V3", accelerator_count=8),
        "tpu",
    ),
    "cpu-only": (["--machine-type", "e2-standard-8"], dict(machine_type="e2-standard-8"), "cpu"),
}


@pytest.mark.parametrize("argv, expected, accelerator", list(GOOD.values()), ids=list(GOOD))
def test_dry_runs_carry_the_machine_spec_the_image_and_the_accelerator_flag(argv, expected, accelerator, capsys):
    (pool,) = _dry_run(capsys, *argv).job_spec.worker_pool_specs
    spec = pool.machine_spec
    assert spec.machine_type == expected["machine_type"]
    assert spec.accelerator_type == getattr(
        aiplatform_v1.AcceleratorType, expected.get("accelerator_type", "ACCELERATOR_TYPE_UNSPECIFIED")
    )
    assert spec.accelerator_count == expected.get("accelerator_count", 0)
    assert spec.tpu_topology == expected.get("tpu_topology", "")
    kind = "tpu" if accelerator == "tpu" else "training"
    assert pool.container_spec.image_uri == f"{IMAGE}{'-tpu' * (kind == 'tpu')}:{source.tag(source.DOCKERFILES[kind])}"
    assert list(pool.container_spec.args) == ["--stage=conv", f"--accelerator={accelerator}"]


WRONG = {
    "l4-on-n1": (
        ["--machine-type", "n1-standard-8", "--accelerator-type", "NVIDIA_L4"],
        "NVIDIA_L4 comes with g2-standard-4, g2-standard-8",
    ),
    "tpu-on-a3": (
        ["--machine-type", "a3-megagpu-8g", "--accelerator-type", "TPU_V3"],
        "a3-megagpu-8g comes with NVIDIA_H100_MEGA_80GB x 8",
    ),
    "t4-count-3": (
        ["--machine-type", "n1-standard-8", "--accelerator-type", "NVIDIA_TESLA_T4", "--accelerator-count", "3"],
        "n1-standard-8 (8 vCPUs) takes NVIDIA_TESLA_T4 x 1 or 2 or 4",
    ),
    "v100-x1-on-n1-32": (
        ["--machine-type", "n1-standard-32", "--accelerator-type", "NVIDIA_TESLA_V100"],
        "n1-standard-32 (32 vCPUs) takes NVIDIA_TESLA_V100 x 4 or 8",
    ),
    "v5e-with-a-gpu": (
        ["--machine-type", "ct5lp-hightpu-4t", "--accelerator-type", "NVIDIA_TESLA_T4"],
        "brings its own TPU chips",
    ),
    "v3-count-4": (
        ["--machine-type", "cloud-tpu", "--accelerator-type", "TPU_V3", "--accelerator-count", "4"],
        "cloud-tpu takes --accelerator-type TPU_V2 or TPU_V3 with --accelerator-count 8",
    ),
    "a100-on-g2": (
        ["--machine-type", "g2-standard-8", "--accelerator-type", "NVIDIA_TESLA_A100"],
        "g2-standard-8 comes with NVIDIA_L4 x 1",
    ),
    "unknown-machine": (["--machine-type", "a9-hugegpu-8g"], "not a machine type Vertex AI trains on"),
    # each names the flags as given (was: "with --accelerator-type None x 3")
    "a2-count-3": (["--machine-type", "a2-highgpu-1g", "--accelerator-count", "3"],
                   "error: --machine-type a2-highgpu-1g --accelerator-count 3: a2-highgpu-1g comes with "
                   "NVIDIA_TESLA_A100 x 1"),
    "v5e-with-a-t4": (["--machine-type", "ct5lp-hightpu-4t", "--accelerator-type", "NVIDIA_TESLA_T4"],
                      "error: --machine-type ct5lp-hightpu-4t --accelerator-type NVIDIA_TESLA_T4: ct5lp-hightpu-4t "
                      "brings its own TPU chips"),
}  # fmt: skip


@pytest.mark.parametrize("argv, message", list(WRONG.values()), ids=list(WRONG))
def test_impossible_pairs_get_one_line_naming_what_would_work_and_exit_2(argv, message, capsys):
    assert cli.main(["train", *CLOUD, "--dry-run", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and message in err and "None" not in err


def _this_tensorflows_build() -> str:
    """How the trainer names the installed TensorFlow when it sees no GPU: tensorflow or tensorflow-cpu, whichever
    the environment has."""
    import tensorflow as tf

    return "was built for CUDA " if tf.sysconfig.get_build_info().get("is_cuda_build") else "is a CPU-only build"


@pytest.mark.parametrize(
    "accelerator, message",
    [
        (
            "gpu",
            "error: --accelerator gpu: TensorFlow sees no GPU, only the CPU; this TensorFlow {build}",
        ),
        (
            "tpu",
            "error: --accelerator tpu: this machine has no TPU (no /dev/accel* or /dev/vfio/* device, TPU_NAME unset)",
        ),
    ],
)
def test_a_job_given_a_gpu_or_tpu_it_cannot_see_fails_in_seconds_before_reading_data(accelerator, message, tmp_path):
    started = time.monotonic()
    result = run_in_process("--smoke", "--accelerator", accelerator, "--job-dir", str(tmp_path), env={"TPU_NAME": ""})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message.format(build=_this_tensorflows_build()))
    assert "data:" not in result.stdout and not (tmp_path / "model").exists()
    assert time.monotonic() - started < 120  # a hang, not a speed: the point is that no data was read


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_gpus=0, build_info={"is_cuda_build": False}), "this TensorFlow is a CPU-only build"),
        (
            dict(num_gpus=0, build_info={"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"}),
            r"built for CUDA 12.5.1 and cuDNN 9 and did not find them.*tensorflow\[and-cuda\]",
        ),
        (dict(num_gpus=1, build_info={}), None),
    ],
)
def test_the_gpu_check_names_the_cause(kwargs, message):
    check = lambda: distribution.check_accelerator("gpu", tpu_chips=[], tpu_name=None, **kwargs)  # noqa: E731
    if message is None:
        check()
    else:
        with pytest.raises(distribution.AcceleratorMissing, match=message):
            check()


def test_tpu_chips_without_libtpu_point_at_the_tpu_image():
    with pytest.raises(distribution.AcceleratorMissing, match=r"TPU chips \(/dev/vfio/0\) but no libtpu.*build --tpu"):
        distribution.check_accelerator(
            "tpu", num_gpus=0, tpu_chips=["/dev/vfio/0"], tpu_name=None, build_info={}, has_libtpu=False
        )
    distribution.check_accelerator(
        "tpu", num_gpus=0, tpu_chips=["/dev/vfio/0"], tpu_name=None, build_info={}, has_libtpu=True
    )


def test_a_tpu_job_chooses_the_tpu_strategy_on_the_local_tpu_vm():
    assert distribution.choose_strategy("auto", tpu=None, environ={}, num_gpus=0, accelerator="tpu") == "tpu"


def _wait(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_cancelled_job_resubmitted_under_its_name_resumes_after_its_last_backup(vertex, capsys, pause, monkeypatch):
    """Vertex AI sends SIGTERM on cancellation and preemption; the same --display-name means the same checkpoints."""
    argv = ["train", *CLOUD, "--api-endpoint", vertex.endpoint, "--display-name", "resumable", "--accelerator-count",
            "0", "--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--train-size", "2000", "--test-size", "500",
            "--epochs", "3", "--no-plots"]  # fmt: skip
    held = pause("epoch=1")  # the fake's job holds before epoch 2, its first epoch backed up, until cancelled
    for name, value in held.env().items():
        monkeypatch.setenv(name, value)
    assert cli.main([*argv, "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert "to resume it after a failure or a cancellation: the same command with --display-name resumable" in out
    name = re.search(r"^job: (\S+)", out, re.M).group(1)
    base = vertex.local_path("gs://demo-bucket/resumable")
    metadata = base / "checkpoints" / "backup" / "training_metadata.json"
    held.wait(running=lambda: vertex.jobs[name].state != aiplatform_v1.JobState.JOB_STATE_FAILED)
    s = settings({"project": "demo-project", "api_endpoint": vertex.endpoint}, {}, need_bucket=False)
    jobs.client(s, credentials.load()).cancel_custom_job(name=name)  # through the SDK's own client
    _wait(lambda: vertex.jobs[name].state == aiplatform_v1.JobState.JOB_STATE_CANCELLED)
    backed_up = json.loads(metadata.read_text())["epoch"]
    assert "stopped: SIGTERM received during epoch 2" in (base / "job.log").read_text()
    assert not (base / "metrics.json").exists() and backed_up == 1

    monkeypatch.delenv("PAUSE")
    assert cli.main(argv) == 0
    assert f"resuming from the backup after epoch {backed_up}" in (base / "job.log").read_text()
    assert [e["epoch"] for e in read_metrics(base)["epochs"]] == [1, 2, 3]


def test_a_tuning_study_on_a_tpu_machine_runs_its_trials_in_the_tpu_image(capsys):
    assert cli.main(["tune", *CLOUD, "--dry-run", "--machine-type", "ct5lp-hightpu-8t"]) == 0
    job = aiplatform_v1.HyperparameterTuningJob.from_json(capsys.readouterr().out, ignore_unknown_fields=False)
    (pool,) = job.trial_job_spec.worker_pool_specs
    assert (pool.machine_spec.machine_type, pool.machine_spec.tpu_topology) == ("ct5lp-hightpu-8t", "2x4")
    assert (
        pool.container_spec.image_uri == f"{IMAGE}-tpu:{source.tag('Dockerfile.tpu')}"
        and pool.container_spec.args[-1] == "--accelerator=tpu"
    )


def test_a_tpu_this_machine_cannot_reach_is_one_line():
    """Was: a urllib URLError traceback from the TPU resolver's metadata lookup (`--tpu NAME` off Google Cloud)."""
    with pytest.raises(distribution.AcceleratorMissing, match=r"^TPU no-such-tpu: cannot connect to it \(") as e:
        distribution.make_strategy("tpu", tpu="no-such-tpu", collective_timeout=1)
    assert "\n" not in str(e.value)
