"""The trainer's own refusals, each one line and exit 2 before anything is written: data that cannot make a model,
a bucket it cannot reach, a SavedModel that is not ours, its flags, and gs:// folders no bucket could hold."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLE_TEST_IMAGES, run_in_process

from trainer import config, predict


def _empty(folder, name: str) -> None:
    header = struct.pack(">IIII", 2051, 0, 28, 28) if "images" in name else struct.pack(">II", 2049, 0)
    (folder / f"{name}.gz").write_bytes(gzip.compress(header))


@pytest.mark.parametrize(
    "emptied, flags, message",
    [
        (["train-images-idx3-ubyte", "train-labels-idx1-ubyte"], [], "0 training images, fewer than one batch of 128; pass more training data or a smaller --batch-size"),
        ([], ["--train-size", "100"], "with --train-size 100: 100 training images, fewer than one batch of 128"),
        (["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"], [], "no test images to evaluate on"),
    ],
    ids=["no-training-images", "fewer-than-a-batch", "no-test-images"],
)  # fmt: skip
def test_data_that_cannot_make_a_model_is_one_line_and_writes_nothing(mnist_copy, tmp_path, emptied, flags, message):
    for name in emptied:
        _empty(mnist_copy, name)
    job = tmp_path / "job"
    result = run_in_process("--stage", "dense", "--data-dir", str(mnist_copy), "--job-dir", str(job), *flags)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not job.exists()


def test_a_bucket_the_trainer_cannot_reach_is_one_line(tmp_path):
    """A real process in a network namespace of its own (unshare -n): no network is the subject."""
    assert shutil.which("unshare"), "util-linux's unshare is needed (root makes the namespace)"
    argv = ["unshare", "-n", sys.executable, "-m", "trainer.task", "--smoke", "--no-plots", "--job-dir", "gs://bkt/run"]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: --model-dir (default: JOB_DIR/model) gs://bkt/run/model: cannot look at it (")


def test_predict_refuses_a_savedmodel_that_is_not_ours_on_load(foreign_model, capsys):
    assert predict.main(["--model-dir", str(foreign_model), str(SAMPLE_TEST_IMAGES)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {foreign_model}: serving_default takes x float32 (None, 3) and returns y;")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--stage", "dropout", "--dropout", "1.5"], "argument --dropout: must be between 0 and 1, got 1.5"),
        (["--hypertune-metric", ""], "argument --hypertune-metric: not a metric ID (characters without whitespace), got ''"),
        (["--hypertune-metric", "val accuracy"], "argument --hypertune-metric: not a metric ID"),
        (["--model-dir", ""], "argument --model-dir: '' is not a folder; pass one, or drop the flag for the default"),
        (["--job-dir", " "], "argument --job-dir: ' ' is not a folder"),
        (["--data-dir", ""], "argument --data-dir: '' is not a folder"),
        (["--checkpoint-dir", ""], "argument --checkpoint-dir: '' is not a folder"),
        (["--tensorboard-dir", ""], "argument --tensorboard-dir: '' is not a folder"),
        (["--cache-dir", ""], "argument --cache-dir: '' is not a folder"),
        (["--data-dir", "/data/mnist", "--cache-dir", "/tmp/c"],
         "argument --cache-dir: only a gs:// --data-dir is downloaded, and /data/mnist is not one; drop --cache-dir"),
    ],
    ids=["dropout", "empty-metric", "metric-with-space", "empty-model-dir", "blank-job-dir", "empty-data-dir",
         "empty-checkpoint-dir", "empty-tensorboard-dir", "empty-cache-dir", "cache-dir-with-local-data"],
)  # fmt: skip
def test_the_trainers_own_flag_refusals_are_one_line(argv, message, capsys):
    """Was: argparse's 20-line usage first; an empty or spaced metric ID was taken, which no study can name; an
    empty folder (`--model-dir "$UNSET"`) was replaced by $AIP_MODEL_DIR or the default, or taken as the current
    folder; a --cache-dir beside local data was accepted and never used."""
    with pytest.raises(SystemExit) as ended:
        config.from_flags(argv, environ={"AIP_MODEL_DIR": "gs://bkt/aip/model"})
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2 and line.startswith(f"python -m trainer.task: error: {message}"), line


@pytest.mark.parametrize(
    "argv, environ, message",
    [
        (["--data-dir", "gs://My_Bucket/mnist"], {}, "--data-dir gs://My_Bucket/mnist: My_Bucket is not a bucket name"),
        (
            ["--job-dir", "gs://goog-runs/x"],
            {},
            "--job-dir gs://goog-runs/x: goog-runs is not a bucket name (not starting",
        ),
        ([], {"AIP_MODEL_DIR": "gs://a\nb/model/"}, "$AIP_MODEL_DIR 'gs://a\\nb/model/': 'a\\nb' is not a bucket name"),
        ([], {"AIP_CHECKPOINT_DIR": "gs://ckpt/a\nb/"}, "$AIP_CHECKPOINT_DIR 'gs://ckpt/a\\nb/': holds a line break"),
    ],
    ids=["data-dir-upper-case", "job-dir-goog", "aip-model-dir-line-break", "aip-checkpoint-dir-line-break"],
)
def test_the_trainer_refuses_a_gs_folder_no_bucket_could_hold_before_any_request(argv, environ, message, capsys):
    """Was: TensorFlow's client retried a malformed URL for 3 minutes, then a message with the line break in it."""
    with pytest.raises(SystemExit) as ended:
        config.from_flags(["--stage", "dense", *argv], environ=environ)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert ended.value.code == 2 and last.startswith("python -m trainer.task: error: ") and message in last, last
