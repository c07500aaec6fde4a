"""Reading and validating the MNIST IDX files, raw or gzipped."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLE_DIR, read_metrics, run_in_process

from trainer import config, data, distribution, pipeline


def _gunzip(src: Path, dst: Path) -> None:
    with gzip.open(src, "rb") as f, open(dst, "wb") as out:
        shutil.copyfileobj(f, out)


def _rewrite(path: Path, edit) -> None:
    """Replace a .gz file's uncompressed content with edit(content)."""
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(edit(content)))


def test_reads_the_real_files_with_their_known_shapes_and_first_labels():
    mnist = data.load_mnist(SAMPLE_DIR)  # MNIST's first 5,000 training and 1,000 test digits
    assert mnist.train_images.shape == (5000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (1000, 28, 28)
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(mnist.train_labels).tolist()[:2] == [479, 563]


def test_raw_files_are_preferred_and_read_like_the_gzipped_ones(mnist_copy):
    gz = data.load_mnist(mnist_copy)
    for path in list(mnist_copy.glob("*.gz")):
        _gunzip(path, path.with_suffix(""))
        path.write_bytes(b"not read: the raw file wins")
    raw = data.load_mnist(mnist_copy)
    assert np.array_equal(raw.train_images, gz.train_images)
    assert np.array_equal(raw.test_labels, gz.test_labels)


def test_header_claiming_a_billion_images_fails_without_allocating(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    _rewrite(path, lambda c: struct.pack(">IIII", 2051, 10**9, 28, 28) + c[16:])
    tracemalloc.start()
    with pytest.raises(data.DataError, match="header says 784000000000 data bytes"):
        data.read_images(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20


def test_raw_file_with_a_billion_images_in_its_header_fails_on_its_size(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte"
    _gunzip(mnist_copy / "t10k-images-idx3-ubyte.gz", path)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack(">I", 10**9))
    with pytest.raises(data.DataError, match="but the file has 784000$"):
        data.read_images(path)


def _wrong_magic(folder: Path) -> str:
    _rewrite(folder / "train-labels-idx1-ubyte.gz", lambda c: struct.pack(">I", 2051) + c[4:])
    return "train-labels-idx1-ubyte.gz: magic number 2051, expected 2049"


def _truncated(folder: Path) -> str:
    _rewrite(folder / "t10k-images-idx3-ubyte.gz", lambda c: c[:-100])
    return "t10k-images-idx3-ubyte.gz: header says 784000 data bytes but the content has 783900 (truncated?)"


def _truncated_gzip_stream(folder: Path) -> str:
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    return "t10k-labels-idx1-ubyte.gz: not a valid gzip file"


def _count_mismatch(folder: Path) -> str:
    _rewrite(folder / "t10k-labels-idx1-ubyte.gz", lambda c: struct.pack(">II", 2049, 999) + c[8:-1])
    return "t10k-images-idx3-ubyte.gz: 1000 images but"


def _label_eleven(folder: Path) -> str:
    _rewrite(folder / "train-labels-idx1-ubyte.gz", lambda c: c[: 8 + 123] + bytes([11]) + c[8 + 124 :])
    return "train-labels-idx1-ubyte.gz: label 11 at index 123 is not a digit 0..9"


def _billion_images(folder: Path) -> str:
    _rewrite(folder / "train-images-idx3-ubyte.gz", lambda c: c[:4] + struct.pack(">I", 10**9) + c[8:])
    return "train-images-idx3-ubyte.gz: header says 784000000000 data bytes"


def _gzip_larger_than_header(folder: Path) -> str:
    _rewrite(folder / "t10k-images-idx3-ubyte.gz", lambda c: c + bytes(784 * 5))
    return "t10k-images-idx3-ubyte.gz: gzip content is larger than the header says"


def _not_28x28(folder: Path) -> str:
    _rewrite(folder / "t10k-images-idx3-ubyte.gz", lambda c: c[:8] + struct.pack(">II", 32, 32) + c[16:])
    return "t10k-images-idx3-ubyte.gz: images are 32x32, expected 28x28"


def _missing_file(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    return "t10k-labels-idx1-ubyte: missing (neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz exists)"


CORRUPTIONS = [
    _wrong_magic,
    _truncated,
    _truncated_gzip_stream,
    _count_mismatch,
    _label_eleven,
    _billion_images,
    _gzip_larger_than_header,
    _not_28x28,
    _missing_file,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=[c.__name__.strip("_") for c in CORRUPTIONS])
def test_corrupted_file_gives_one_line_error_and_exit_2_through_the_cli(mnist_copy, tmp_path, corrupt):
    expected = corrupt(mnist_copy)
    job_dir = tmp_path / "job"
    result = run_in_process("--data-dir", str(mnist_copy), "--job-dir", str(job_dir))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {mnist_copy}/") and expected in last
    assert not job_dir.exists()


def test_a_missing_folder_names_the_flag_before_tensorflow_loads(tmp_path):
    """A process of its own: whether TensorFlow was imported is the process's state. A wrong local --data-dir
    costs a fraction of a second, not the seconds of TensorFlow's import."""
    code = (
        "import sys; from trainer import task; code = task.main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    job_dir = tmp_path / "job"
    result = subprocess.run(
        [sys.executable, "-c", code, "--data-dir", "/nonexistent/mnist", "--job-dir", str(job_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (2, "False\n"), result.stderr
    assert result.stderr == (
        "error: /nonexistent/mnist: no such folder; pass --data-dir a folder holding the four MNIST files, "
        "or gs://BUCKET/PREFIX\n"
    )
    assert not job_dir.exists()


def _epochs(ds, count: int) -> list[np.ndarray]:
    return [np.concatenate([labels.numpy() for _, labels in ds]) for _ in range(count)]


def test_training_takes_whole_batches_each_epoch_in_a_new_order_leaving_out_different_images():
    """Was: a short last batch, so the compiled step saw a batch of unknown size (docs/performance.md: 13% of batch
    norm's speed on AVX2). Now 15 batches of 64 from 1,000 images; each epoch leaves out its own last 40."""
    labels = (np.arange(1000) % 256).astype(np.uint8)
    images = np.repeat(labels, 784).reshape(1000, 28, 28)
    ds = pipeline.training_dataset(images, np.arange(1000), 64, seed=3)
    assert ds.element_spec[0].shape.as_list() == [64, 28, 28] and ds.cardinality() == 15
    first, second = _epochs(ds, 2)
    assert len(set(first)) == len(set(second)) == 960
    assert set(range(1000)) - set(first) != set(range(1000)) - set(second)
    assert list(first) != list(second) and list(first) != list(range(960))
    for batch_images, batch_labels in ds.take(2):
        np.testing.assert_allclose(batch_images.numpy()[:, 0, 0], (batch_labels.numpy() % 256) / 255.0, rtol=1e-6)


def test_the_trainer_trains_on_whole_batches_and_tests_on_every_test_image():
    run = config.from_flags(["--data-dir", str(SAMPLE_DIR), "--train-size", "1000", "--test-size", "300"], environ={})
    placement = distribution.Placement(tf.distribute.get_strategy(), "cpu", "float32", 64, 0.01, 1)
    datasets = pipeline.read_data(run, placement, None)
    assert datasets.train.element_spec[0].shape.as_list() == [64, 28, 28] and datasets.train_batches == 15
    assert [len(y) for _, y in datasets.test] == [300]


def test_workers_with_the_same_seed_see_the_same_order():
    images, labels = np.zeros((300, 28, 28), np.uint8), np.arange(300)
    one, other = (pipeline.make_dataset(images, labels, 32, shuffle=True, seed=5) for _ in range(2))
    assert [list(e) for e in _epochs(one, 2)] == [list(e) for e in _epochs(other, 2)]


@pytest.mark.parametrize("drop_remainder, sizes", [(False, [64] * 15 + [40]), (True, [64] * 15)])
def test_the_last_short_batch_is_kept_unless_static_shapes_are_needed(drop_remainder, sizes):
    images, labels = np.zeros((1000, 28, 28), np.uint8), np.arange(1000)
    ds = pipeline.make_dataset(images, labels, 64, shuffle=False, drop_remainder=drop_remainder)
    assert [len(y) for _, y in ds] == sizes
    assert ds.cardinality() == len(sizes)
    assert list(np.concatenate([y for _, y in ds])) == list(range(sum(sizes)))


def test_sizes_above_what_the_data_holds_warn_and_metrics_record_what_was_used(tmp_path):
    """Was: silently all of them, with nothing to say --train-size 100000 was not honoured."""
    result = run_in_process("--stage", "softmax", "--data-dir", str(SAMPLE_DIR), "--train-size", "100000",
                            "--test-size", "200", "--epochs", "1", "--no-plots", "--job-dir", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"warning: --train-size 100,000: {SAMPLE_DIR} holds 5,000; all of them are used" in result.stderr
    assert "--test-size" not in result.stderr
    assert read_metrics(tmp_path)["data"] == {"data_dir": str(SAMPLE_DIR), "train_images": 5000, "test_images": 200}
