"""The Vertex AI runtime contract: AIP_* output dirs, SavedModel export, resume after preemption,
TensorBoard, tuning metrics, chief-only outputs, plots and the predict command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLE_DIR, SAMPLE_TEST_IMAGES, read_metrics, run_in_process, run_trainer, tf_config
from PIL import Image

from trainer import config, data, predict, values

EPOCHS = 2
CLUSTER = {"chief": ["127.0.0.1:2222"], "worker": ["127.0.0.1:2223"]}


def vertex_env(root: Path, **extra: str) -> dict:
    """The environment Vertex AI gives a custom job with a base output directory."""
    return {
        "AIP_MODEL_DIR": str(root / "model"),
        "AIP_CHECKPOINT_DIR": str(root / "checkpoints"),
        "AIP_TENSORBOARD_LOG_DIR": str(root / "logs"),
        "CLOUD_ML_HP_METRIC_FILE": str(root / "hypertune" / "output.metrics"),
        **extra,
    }


@pytest.fixture(scope="module")
def vertex_job(tmp_path_factory):
    """One short job run as Vertex AI runs a tuning trial's chief: outputs only from the environment."""
    root = tmp_path_factory.mktemp("vertex")
    env = vertex_env(root, CLOUD_ML_TRIAL_ID="7", **tf_config(CLUSTER, "chief"))
    # --distribute=default: one process plays the chief of a two-task cluster, with no worker to train beside.
    result = run_in_process(
        "--stage=dense",
        "--distribute=default",
        f"--data-dir={SAMPLE_DIR}",
        "--test-size=500",
        f"--epochs={EPOCHS}",
        "--hypertune-metric=digit_accuracy",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return root, result


def test_outputs_go_where_the_aip_variables_say(vertex_job):
    root, result = vertex_job
    assert (root / "model" / "saved_model.pb").is_file() and (root / "model" / "model.keras").is_file()
    assert list((root / "logs").rglob("events.out.tfevents.*"))
    assert (root / "metrics.json").is_file(), "the job dir defaults to the parent of AIP_MODEL_DIR"
    assert "hyperparameter tuning trial 7" in result.stdout
    assert read_metrics(root)["trial_id"] == "7"


def test_flags_override_the_aip_variables(tmp_path):
    env = vertex_env(tmp_path)
    args = config.from_flags(["--model-dir", "/elsewhere/model"], environ=env)
    assert args.model_dir == "/elsewhere/model" and args.checkpoint_dir == env["AIP_CHECKPOINT_DIR"]
    plain = config.from_flags(["--job-dir", "gs://bucket/run"], environ={})
    assert (plain.model_dir, plain.checkpoint_dir, plain.tensorboard_dir) == (
        "gs://bucket/run/model",
        "gs://bucket/run/checkpoints",
        "gs://bucket/run/logs",
    )


def test_saved_model_serves_the_keras_models_predictions_on_real_digits(vertex_job):
    root, _ = vertex_job
    images = data.read_images(SAMPLE_TEST_IMAGES)[-500:].astype(np.float32) / 255.0
    labels = data.read_labels(SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")[-500:]
    serve = tf.saved_model.load(str(root / "model")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [None, 28, 28]
    out = serve(image=tf.constant(images))
    assert out["probabilities"].shape == (500, 10) and out["digit"].dtype == tf.int32
    keras_model = keras.saving.load_model(root / "model" / "model.keras")
    expected = keras_model.predict(images, verbose=0)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert np.array_equal(out["digit"].numpy(), expected.argmax(axis=-1))
    assert np.mean(out["digit"].numpy() == labels) > 0.85


def test_hypertune_file_has_one_entry_per_epoch_and_the_final_evaluation(vertex_job):
    root, _ = vertex_job
    entries = [json.loads(line) for line in (root / "hypertune" / "output.metrics").read_text().splitlines()]
    metrics = read_metrics(root)
    assert [e["global_step"] for e in entries] == [str(s) for s in [*range(1, EPOCHS + 1), EPOCHS]]
    assert all(e["trial"] == "7" for e in entries)
    reported = [float(e["digit_accuracy"]) for e in entries]
    assert reported[:-1] == pytest.approx([e["val_accuracy"] for e in metrics["epochs"]])
    assert reported[-1] == pytest.approx(metrics["test_accuracy"])


def test_tensorboard_events_hold_the_per_epoch_scalars(vertex_job):
    root, _ = vertex_job
    scalars = {}
    for events in (root / "logs").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                scalars.setdefault((events.parent.name, value.tag), []).append(event.step)
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
        assert scalars[("train", tag)] == list(range(EPOCHS)), tag
    for tag in ("epoch_loss", "epoch_accuracy"):
        assert scalars[("validation", tag)] == list(range(EPOCHS)), tag


def test_plots_are_pngs_of_sensible_size(vertex_job):
    root, _ = vertex_job
    for name, min_size in (("curves.png", (600, 250)), ("digits.png", (500, 500))):
        with Image.open(root / name) as image:
            assert image.format == "PNG"
            assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1], (name, image.size)


def test_no_plots_flag_writes_none(tmp_path):
    result = run_in_process(
        "--stage=dense", f"--data-dir={SAMPLE_DIR}", "--train-size=256", "--test-size=100", "--epochs=1",
        "--job-dir", str(tmp_path), "--no-plots",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "metrics.json").is_file() and not list(tmp_path.glob("*.png"))


def test_a_worker_writes_no_model_and_reports_no_metric(tmp_path):
    env = vertex_env(tmp_path, **tf_config(CLUSTER, "worker", 1))
    result = run_in_process(
        "--stage",
        "softmax",
        "--distribute",
        "default",
        "--data-dir",
        str(SAMPLE_DIR),
        "--train-size",
        "512",
        "--test-size",
        "200",
        "--epochs",
        "1",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "worker-1: not the chief" in result.stdout
    assert not (tmp_path / "model").exists() and not (tmp_path / "metrics.json").exists()
    assert not (tmp_path / "hypertune").exists() and not (tmp_path / "logs").exists()


def test_a_killed_job_resumes_after_its_last_backed_up_epoch(tmp_path, pause):
    """Preemption for real: SIGKILL after the first backed-up epoch, then the same command again."""
    args = ["--stage", "conv", "--data-dir", str(SAMPLE_DIR), "--job-dir", str(tmp_path), "--train-size", "2000",
            "--test-size", "500", "--epochs", "3", "--no-plots"]  # fmt: skip
    metadata = tmp_path / "checkpoints" / "backup" / "training_metadata.json"
    held = pause("epoch=1")  # before epoch 2: epoch 1 is backed up
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=REPO,
        env={**os.environ, **held.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        held.wait(running=lambda: proc.poll() is None)
        backed_up = json.loads(metadata.read_text())["epoch"]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert backed_up == 1 and not (tmp_path / "metrics.json").exists()

    result = run_in_process(*args)  # the rerun: the kill was the process's part
    assert result.returncode == 0, result.stderr
    assert f"resuming from the backup after epoch {backed_up}" in result.stdout
    assert f"Epoch {backed_up + 1}/3" in result.stdout and "Epoch 1/3" not in result.stdout
    metrics = read_metrics(tmp_path)
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert [round(e["lr"], 6) for e in metrics["epochs"]] == [0.01, 0.006, 0.0036]
    assert metrics["test_accuracy"] > 0.9
    assert not metadata.parent.exists(), "the backup is removed once training completes"


def test_predict_gives_the_same_digits_for_png_idx_and_jsonl(vertex_job, tmp_path, capsys):
    root, _ = vertex_job
    images = data.read_images(SAMPLE_TEST_IMAGES)[:6]
    pngs = []
    for i, image in enumerate(images):
        pngs.append(tmp_path / f"digit{i}.png")
        Image.fromarray(image).save(pngs[-1])
    idx = tmp_path / "six-idx3-ubyte"
    idx.write_bytes(np.array([2051, 6, 28, 28], ">u4").tobytes() + images.tobytes())
    jsonl = tmp_path / "instances.jsonl"
    jsonl.write_text("".join(json.dumps({"image": (img / 255.0).tolist()}) + "\n" for img in images))

    assert predict.main(["--model-dir", str(root / "model"), *map(str, pngs), str(idx), str(jsonl)]) == 0
    digits = {}
    for line in capsys.readouterr().out.splitlines():
        where, prediction = line.split(": ")
        digits[where] = int(prediction.split()[0])
    by_png = [digits[str(p)] for p in pngs]
    assert by_png == [digits[f"{idx}[{i}]"] for i in range(6)] == [digits[f"{jsonl}[{i}]"] for i in range(6)]
    assert sum(d == t for d, t in zip(by_png, [7, 2, 1, 0, 4, 1], strict=True)) >= 5


def test_predict_names_an_input_that_is_not_a_file_for_what_it_is(tmp_path, capsys):
    """Was: a folder or /dev/null was "no such file"."""
    for path, why in [(tmp_path, "a folder; pass the files in it"), (Path("/dev/null"), "not a regular file"),
                      (tmp_path / "gone.png", "no such file")]:  # fmt: skip
        assert predict.main(["--model-dir", str(tmp_path), str(path)]) == 2
        assert capsys.readouterr().err == f"error: {path}: {why}\n"


def test_predict_refuses_a_model_folder_that_cannot_be_an_export_in_one_line_naming_what_to_pass(tmp_path, capsys):
    """Was: "not an exported model (OSError)" for each; a job's folder, the mistake most made, now names the
    folder to pass."""
    png = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(png)
    (tmp_path / "job" / "model").mkdir(parents=True)
    (tmp_path / "job" / "model" / "saved_model.pb").write_bytes(b"")
    job = tmp_path / "job"
    for model_dir, why in [
        ("", "empty; pass the exported model's folder (JOB_DIR/model)"),
        (str(tmp_path / "gone"), "no such folder"),
        (str(job), f"a job's folder, whose export is {job / 'model'}: pass that"),
        (str(tmp_path), "no saved_model.pb there; pass the model folder a run wrote (JOB_DIR/model)"),
        ("gs://UPPER/model", "UPPER is not a bucket name"),
    ]:
        assert predict.main(["--model-dir", model_dir, str(png)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --model-dir {values.shown(model_dir)}: {why}") and err.count("\n") == 1, err


def test_predicts_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as ended:
        predict.main(["--model-dir", "m"])
    assert ended.value.code == 2
    assert capsys.readouterr().err == "python -m trainer.predict: error: the following arguments are required: files\n"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.png", b"not a png", "not a readable PNG image"),
        ("bad.jsonl", b'{"image": [[0.0, 1.0]]}\n', "bad.jsonl:1: image has shape [1, 2], expected [28, 28]"),
        ("notes.txt", b"hello", "unknown kind of input"),
    ],
)
def test_predict_rejects_a_bad_file_in_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = run_trainer("--model-dir", str(tmp_path), str(path), module="trainer.predict")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
