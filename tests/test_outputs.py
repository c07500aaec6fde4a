"""Output safety: the trainer replaces only its own export (test_export_swap.py: how), refuses unwritable locations
before training, and a disk that fills ends in one line with the previous export intact."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, SAMPLE_DIR, TINY, run_in_process

from trainer import storage, task

SOFTMAX = ["--stage", "softmax", "--data-dir", str(SAMPLE_DIR), "--no-plots", *TINY]


def last_error(result_or_text) -> str:
    text = result_or_text if isinstance(result_or_text, str) else result_or_text.stderr
    return text.strip().splitlines()[-1]


def test_a_model_folder_holding_a_users_file_is_refused_and_the_file_is_kept(tmp_path):
    models = tmp_path / "my-models"
    models.mkdir()
    (models / "thesis.txt").write_text("four years of work")
    started = time.monotonic()
    result = run_in_process("--smoke", "--model-dir", str(models), "--job-dir", str(tmp_path / "job"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert last_error(result) == (
        f"error: --model-dir {models}: holds files this trainer did not write (thesis.txt); it replaces "
        "only an empty folder or its own previous export: pass a new or empty folder"
    )
    assert (models / "thesis.txt").read_text() == "four years of work" and sorted(p.name for p in models.iterdir()) == [
        "thesis.txt"
    ]
    assert "Epoch" not in result.stdout and not (tmp_path / "job").exists()
    assert time.monotonic() - started < 120  # a hang, not a speed: the point is that no data was read


def test_a_file_in_place_of_the_model_folder_is_refused(tmp_path, capsys):
    (tmp_path / "model").write_text("not a folder")
    assert task.main(["--smoke", "--job-dir", str(tmp_path)]) == 2
    assert last_error(capsys.readouterr().err) == (
        f"error: --model-dir (default: JOB_DIR/model) {tmp_path}/model: is a file, "
        "not a folder; pass a folder for the model"
    )
    assert (tmp_path / "model").read_text() == "not a folder"


@pytest.mark.parametrize("model_dir", ["gs://my-bucket", "gs://my-bucket/", "/gcs/my-bucket"])
def test_a_bucket_root_is_refused_from_the_flag_or_the_vertex_variable(model_dir, tmp_path, capsys, monkeypatch):
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), "--model-dir", model_dir]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: --model-dir {model_dir}: is a bucket root; ")
    monkeypatch.setenv("AIP_MODEL_DIR", model_dir)
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job")]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: $AIP_MODEL_DIR {model_dir}: is a bucket root; ")
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize("model_dir", ["/", "//", "/./"])
def test_the_root_folder_is_refused_for_the_model_before_anything_lists_it(model_dir, tmp_path, capsys, monkeypatch):
    """An export replaces its folder; the root is the whole disk (it was a traceback from listing it, too)."""

    def listed(folder):  # without the check, a walk of the whole disk: fail at once rather than hang
        raise AssertionError(f"listed {folder}")

    monkeypatch.setattr(storage, "list_files", listed)
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), "--model-dir", model_dir]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: --model-dir {model_dir}: is the root folder; ")
    monkeypatch.setenv("AIP_MODEL_DIR", model_dir)
    assert task.main(["--smoke"]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: $AIP_MODEL_DIR {model_dir}: is the root folder; ")
    assert not (tmp_path / "job").exists()


def test_a_folder_in_place_of_the_tuning_metric_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """It failed after the first epoch (exit 1, "Is a directory"), the run's time lost."""
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(tmp_path))
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job")]) == 2
    out, err = capsys.readouterr()
    assert last_error(err) == (
        f"error: $CLOUD_ML_HP_METRIC_FILE {tmp_path}: is a folder; cloudml-hypertune writes the tuning metric to a "
        "file, e.g. /tmp/hypertune/output.metrics (its default)"
    )
    assert "Epoch" not in out and not (tmp_path / "job").exists()


def test_the_model_folder_may_not_also_hold_the_other_outputs(tmp_path, capsys):
    assert task.main(["--smoke", "--job-dir", str(tmp_path), "--model-dir", str(tmp_path)]) == 2
    assert last_error(capsys.readouterr().err) == (
        f"error: --model-dir {tmp_path}: also holds --job-dir {tmp_path}; every export "
        "replaces the model folder, so give the model a folder of its own"
    )


UNWRITABLE = "/proc/nope"  # root may write almost anywhere; not under /proc, nor below a file


@pytest.mark.parametrize(
    "flags, env, named",
    [
        (["--model-dir", f"{UNWRITABLE}/model"], {}, f"--model-dir {UNWRITABLE}/model"),
        (["--checkpoint-dir", "<FILE>/checkpoints"], {}, "--checkpoint-dir <FILE>/checkpoints"),
        (["--tensorboard-dir", f"{UNWRITABLE}/logs"], {}, f"--tensorboard-dir {UNWRITABLE}/logs"),
        ([], {"AIP_CHECKPOINT_DIR": f"{UNWRITABLE}/ckpt"}, f"$AIP_CHECKPOINT_DIR {UNWRITABLE}/ckpt"),
        (
            [],
            {"CLOUD_ML_HP_METRIC_FILE": f"{UNWRITABLE}/hp/output.metrics"},
            f"$CLOUD_ML_HP_METRIC_FILE {UNWRITABLE}/hp",
        ),
    ],
    ids=["model-dir", "checkpoint-dir-below-a-file", "tensorboard-dir", "aip-checkpoint-dir", "hypertune-metric-file"],
)
def test_each_unwritable_output_is_refused_before_the_data_is_read(flags, env, named, tmp_path, capsys, monkeypatch):
    (tmp_path / "FILE").write_text("a file, not a folder")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    flags = [f.replace("<FILE>", str(tmp_path / "FILE")) for f in flags]
    named = named.replace("<FILE>", str(tmp_path / "FILE"))
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), *flags]) == 2
    out, err = capsys.readouterr()
    assert last_error(err).startswith(f"error: {named}: cannot write there (")
    assert "data:" not in out and "Epoch" not in out
    assert not (tmp_path / "job").exists(), "the probes leave nothing behind"


def test_an_unwritable_job_dir_fails_in_seconds_through_the_cli():
    started = time.monotonic()
    result = run_in_process("--smoke", "--job-dir", UNWRITABLE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert last_error(result).startswith(
        f"error: --model-dir (default: JOB_DIR/model) {UNWRITABLE}/model: cannot write there ("
    )
    assert time.monotonic() - started < 120  # a hang, not a speed: the point is that no data was read


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize(
    "limit, message",
    [
        (20_000, "error: cannot write JOB/checkpoints/backup/epoch-1.weights.npz"),
        (50_000, "error: cannot export the model to JOB/model"),
    ],
    ids=["backup", "export"],
)
def test_a_disk_that_fills_mid_run_ends_in_one_line_and_keeps_the_previous_export(limit, message, tmp_path):
    assert task.main([*SOFTMAX, "--job-dir", str(tmp_path)]) == 0
    before = {name: (tmp_path / "model" / name).read_bytes() for name in storage.list_files(str(tmp_path / "model"))}
    result = subprocess.run(
        [sys.executable, "-m", "trainer.task", *SOFTMAX, "--job-dir", str(tmp_path), "--epochs", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_file_size_limit(limit),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert last_error(result).startswith(message.replace("JOB", str(tmp_path))) and "File too large" in last_error(
        result
    )
    after = {name: (tmp_path / "model" / name).read_bytes() for name in storage.list_files(str(tmp_path / "model"))}
    assert after == before
