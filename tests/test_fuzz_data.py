"""Property-based tests (Hypothesis) over the training data a user brings: IDX image and label files, raw or
gzipped, and a local --data-dir folder holding any mix of the four files. Any input reads as MNIST or is refused with
trainer.data's one error type in one line; never another exception.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from conftest import SAMPLE_DIR, one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import data

pytestmark = pytest.mark.fuzz


IDX_HEADERS = st.builds(
    lambda magic, count, rows, cols, payload: struct.pack(">IIII", magic, count, rows, cols) + payload,
    st.sampled_from([2051, 2049, 0, 2**32 - 1]),
    st.one_of(st.integers(0, 4), st.just(2**32 - 1)),
    st.sampled_from([28, 0, 27, 2**16]),
    st.sampled_from([28, 1]),
    st.binary(max_size=28 * 28 * 3),
)


@given(content=st.one_of(st.binary(max_size=64), IDX_HEADERS), gzipped=st.booleans())
@example(content=struct.pack(">IIII", 2051, 0, 28, 28), gzipped=True)  # 0 images: parses, refused by its users
@example(content=struct.pack(">IIII", 2051, 10**9, 28, 28), gzipped=True)
def test_any_idx_image_file_reads_as_uint8_images_or_is_one_line(tmp_path_factory, content, gzipped):
    path = tmp_path_factory.mktemp("idx") / ("x-idx3-ubyte" + ".gz" * gzipped)
    path.write_bytes(gzip.compress(content) if gzipped else content)
    try:
        images = data.read_images(path)
    except data.DataError as e:
        one_line(e)
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)


@given(content=st.binary(max_size=64), labels=st.lists(st.integers(0, 255), max_size=20))
def test_any_idx_label_file_reads_as_digits_or_is_one_line(tmp_path_factory, content, labels):
    folder = tmp_path_factory.mktemp("labels")
    for name, body in (("a", content), ("b", struct.pack(">II", 2049, len(labels)) + bytes(labels))):
        (folder / name).write_bytes(body)
        try:
            read = data.read_labels(folder / name)
        except data.DataError as e:
            one_line(e)
            continue
        assert read.dtype == np.uint8 and (read <= 9).all()


NAMES = sorted({name for base in data.FILES.values() for name in (base, base + ".gz")} | {"notes.txt"})


@given(entries=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(["file", "folder", "empty"]), max_size=9))
@example(entries={base: "file" for base in data.FILES.values()})
@example(entries={**{base: "file" for base in data.FILES.values()}, "train-images-idx3-ubyte": "folder"})
def test_any_local_data_folder_reads_as_mnist_or_is_one_line(tmp_path_factory, entries):
    """--data-dir a local folder (what the trainer checks before TensorFlow loads, then reads): any mix of the
    four files' names, raw or gzipped, as files, empty files or folders, with or without the folder itself."""
    root = tmp_path_factory.mktemp("mnist")
    folder = root / "data"
    sample = {path.name: path.read_bytes() for path in SAMPLE_DIR.glob("*.gz")}
    if entries:
        folder.mkdir()
    for name, kind in entries.items():
        if kind == "folder":
            (folder / name).mkdir()
        else:
            body = gzip.decompress(sample[name + ".gz"]) if name + ".gz" in sample else sample.get(name, b"notes")
            (folder / name).write_bytes(body if kind == "file" else b"")
    try:
        mnist = data.load_mnist(folder)
    except data.DataError as e:
        one_line(e)
        return
    assert mnist.train_images.shape == (5000, 28, 28) and mnist.test_labels.shape == (1000,)
