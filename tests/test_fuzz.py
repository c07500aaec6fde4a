"""Property-based tests (Hypothesis) over the readers of data from outside: any input either parses to a valid
value or is refused with our one error type in one line; never another exception, never a non-finite pixel let
through. The readers: a local data folder, IDX, PNG and JSON-lines files (trainer.data, trainer.predict) and a
prediction request's body (trainer.serving_contract, the server's and batch-predict's one reader), the server's
settings, a model folder's name in a refusal and a local model folder that may be the root;
test_fuzz_settings.py has the launcher's parsers and hptuning.yaml. The @example lists keep the inputs that found
defects. conftest.py sets the number of examples: a bounded profile in the suite, `HYPOTHESIS_PROFILE=long` for
CI's second step (docs/testing.md).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from conftest import SAMPLE_DIR, one_line
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from trainer import data, export, predict, server, serving_contract, storage, values

pytestmark = pytest.mark.fuzz


def valid_images(images: np.ndarray, count: int | None = None) -> None:
    assert images.dtype == np.float32 and images.shape[1:] == (28, 28) and len(images) >= 1
    assert count is None or len(images) == count
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- files

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
    path = _write(
        tmp_path_factory.mktemp("idx"), "x-idx3-ubyte" + ".gz" * gzipped, gzip.compress(content) if gzipped else content
    )
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
        try:
            read = data.read_labels(_write(folder, name, body))
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


def _png(size: tuple[int, int], mode: str) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 200).save(out, format="PNG")
    return out.getvalue()


PNG = _png((28, 28), "L")


@given(
    content=st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda at, junk: PNG[:at] + junk + PNG[at + len(junk) :],
            st.integers(0, len(PNG)),
            st.binary(min_size=1, max_size=16),
        ),
        st.builds(
            _png,
            st.tuples(st.integers(1, 64), st.integers(1, 64)),
            st.sampled_from(["L", "RGB", "RGBA", "1", "I;16", "P"]),
        ),
    )
)
@example(content=PNG)
def test_any_png_file_reads_as_one_image_in_0_1_or_is_one_line(tmp_path_factory, content):
    path = _write(tmp_path_factory.mktemp("png"), "digit.png", content)
    try:
        images = predict.read_inputs(path)
    except data.DataError as e:
        one_line(e)
        return
    valid_images(images, 1)


def test_a_picture_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 megapixels, a few kB as a bilevel PNG
    with pytest.raises(data.DataError, match=r"huge.png: more than 40,000,000 pixels; scale it down first"):
        predict.read_inputs(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=20,
)
PIXEL = st.one_of(st.floats(0, 1), st.sampled_from([0, 1]))
GOOD_IMAGE = st.lists(st.lists(PIXEL, min_size=28, max_size=28), min_size=28, max_size=28)


def _poison(image: list, value, at: int) -> list:
    rows = [list(row) for row in image]
    rows[at // 28][at % 28] = value
    return rows


BAD_PIXELS = st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 1e308, -5, 1.0000001, "0.5", True, None, [0.5], 10**400]
)
B64 = st.one_of(
    st.sampled_from([784, 3136])
    .flatmap(lambda n: st.binary(min_size=n, max_size=n))
    .map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=20),
)
INSTANCES = st.one_of(
    st.fixed_dictionaries({"image": GOOD_IMAGE}),
    st.builds(lambda text: {"image": {"b64": text}}, B64),
    st.builds(lambda image, bad, at: {"image": _poison(image, bad, at)}, GOOD_IMAGE, BAD_PIXELS, st.integers(0, 783)),
    st.fixed_dictionaries({"image": JSON}),
    JSON,
)


def _line(instance) -> bytes:
    return json.dumps(instance).encode()  # Python's json writes NaN and Infinity, as the prober's files had them


@pytest.mark.long  # 20-45 s under HYPOTHESIS_PROFILE=long: first on a worker
@given(lines=st.lists(st.one_of(INSTANCES.map(_line), st.binary(max_size=40)), max_size=4))
@example(lines=[b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
@example(lines=[b'{"image": "\xff\xfe"}'])
@example(lines=[_line({"image": [[float("nan")] * 28] * 28})])
@example(lines=[_line({"image": [[1e308] * 28] * 28})])
@example(lines=[_line({"image": [[True] * 28] * 28})])
def test_any_json_lines_file_reads_as_images_in_0_1_or_is_one_line(tmp_path_factory, lines):
    path = _write(tmp_path_factory.mktemp("jsonl"), "in.jsonl", b"\n".join(lines))
    try:
        images = predict.read_inputs(path)
    except data.DataError as e:
        one_line(e)
        assert str(path) in str(e)
        return
    valid_images(images, sum(1 for line in lines if line.strip()))


# ---------------------------------------------------------------- the prediction request


@pytest.mark.long  # 20-45 s under HYPOTHESIS_PROFILE=long: first on a worker
@given(body=st.one_of(st.binary(max_size=64), st.lists(INSTANCES, max_size=3).map(lambda i: _line({"instances": i}))))
@example(body=b"[" * 100_000)
@example(body=b'{"instances": [{"image": NaN}]}')
@example(body=_line({"instances": [{"image": [[-5] * 28] * 28}]}))
@example(body=_line({"instances": [{"image": [["0.5"] * 28] * 28}]}))
def test_any_request_body_decodes_to_images_in_0_1_or_is_one_line(body):
    try:
        images = serving_contract.instances(serving_contract.decode_json(body, "request body"))
    except data.DataError as e:
        one_line(e)
        return
    valid_images(images, len(json.loads(body)["instances"]))


def _float32_b64(pixels: np.ndarray) -> dict:
    return {"image": {"b64": base64.b64encode(pixels.astype("<f4").tobytes()).decode()}}


def _poisoned(value) -> dict:
    """An image of 0.5s with value at pixel [3][16]."""
    pixels = np.full((28, 28), 0.5, np.float32)
    pixels[3, 16] = value
    return _float32_b64(pixels)


# Images that can pass: few drawn pixels, the rest one drawn value (a full 784-pixel draw would be slow).
FLOAT32_B64 = arrays(np.float32, (28, 28), elements=st.floats(0, 1, width=32), fill=st.floats(0, 1, width=32)).map(
    _float32_b64
)
NEARLY_VALID = st.builds(
    lambda pixels, value, at: _float32_b64(np.where(np.arange(784).reshape(28, 28) == at, value, pixels)),
    arrays(np.float32, (28, 28), elements=st.floats(0, 1, width=32), fill=st.just(0.5)),
    st.sampled_from([np.nan, np.inf, -0.0, -1e-45, 1.0000001, 1.0, 2.0]),
    st.integers(0, 783),
)


@pytest.mark.long  # 20-45 s under HYPOTHESIS_PROFILE=long: first on a worker
@given(
    images=st.lists(st.one_of(FLOAT32_B64, NEARLY_VALID), min_size=1, max_size=5),
    intruder=st.one_of(st.none(), INSTANCES),
    at=st.integers(0, 5),
)
@example(images=[_float32_b64(np.full((28, 28), v)) for v in (0.25, 0.75)], intruder=None, at=0)  # their order
@example(images=[_float32_b64(np.full((28, 28), 0.5)), _poisoned(2.0)], intruder=None, at=0)
@example(images=[_poisoned(np.inf)], intruder=None, at=0)
@example(images=[_poisoned(np.float32(1.0000001))], intruder=None, at=0)
@example(images=[_poisoned(np.float32(-1e-45))], intruder=None, at=0)
@example(images=[_float32_b64(np.full((28, 28), 0.5))], intruder={"image": {"b64": "abcd===="}}, at=1)
@example(images=[_float32_b64(np.full((28, 28), 0.5))], intruder={"image": {"b64": "é"}}, at=0)
def test_a_request_of_b64_images_decodes_as_one_batch_exactly_as_instance_by_instance(images, intruder, at):
    """The batch path (what predict and batch-predict send) gives what decoding each instance gives: the same
    pixels, or the same one-line error naming the same instance."""
    found = images if intruder is None else [*images[:at], intruder, *images[at:]]
    try:
        expected, error = np.stack([serving_contract.image(x, f"instances[{i}]") for i, x in enumerate(found)]), None
    except data.DataError as e:
        expected, error = None, str(e)
    try:
        images = serving_contract.instances({"instances": found})
    except data.DataError as e:
        assert str(e) == error
        return
    assert error is None and images.dtype == np.float32 and np.array_equal(images, expected)


# ---------------------------------------------------------------- the server's settings


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> str:
    """A folder the server's settings take for a model: it holds a saved_model.pb (they read no further)."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "saved_model.pb").write_bytes(b"")
    return str(folder)


@given(
    uri=st.one_of(st.text(max_size=20), st.just("gs://b/model"), st.just("MODEL")),
    port=st.one_of(st.none(), st.text(max_size=8), st.integers(-1, 70000).map(str)),
)
@example(uri="gs://b/model", port="²")  # a digit to str.isdigit, not to int()
@example(uri="a\nb", port=None)
def test_any_server_settings_give_a_model_and_a_port_or_are_one_line(model_folder, uri, port):
    uri = model_folder if uri == "MODEL" else uri
    env = {"AIP_STORAGE_URI": uri, **({} if port is None else {"AIP_HTTP_PORT": port})}
    try:
        found, number = server.settings(env)
    except server.ServerError as e:
        one_line(e)
        return
    assert found == uri and 0 < number < 65536
    assert uri.startswith("gs://") or serving_contract.has_saved_model(Path(uri))


@pytest.fixture(scope="module")
def foreign_loaded(foreign_model):
    """The SavedModel that is not this trainer's (conftest.py), loaded once."""
    import tensorflow as tf

    return tf.saved_model.load(str(foreign_model))


@given(where=st.text(max_size=30), foreign=st.booleans())
@example(where="runs/a\nb/model", foreign=True)
@example(where="\u2028", foreign=False)
def test_any_model_folder_name_in_a_refusal_of_a_model_stays_one_printable_line(foreign_loaded, where, foreign):
    """The server and trainer.predict name the folder they loaded; its name is the user's, any text."""
    with pytest.raises(data.DataError) as refused:
        serving_contract.serving_signature(foreign_loaded if foreign else object(), where)
    one_line(refused.value)
    assert str(refused.value).isprintable(), refused.value


@given(text=st.one_of(st.text(max_size=30), st.text(max_size=30).map(lambda s: "gs://" + s)))
@example(text="")
@example(text="gs://UPPER/model")
def test_any_model_dir_given_to_predict_is_checked_or_refused_in_one_printable_line(text):
    """trainer.predict's --model-dir, any text, checked before TensorFlow loads: taken (a folder here, or gs:// with
    a bucket name Cloud Storage allows), or one printable line naming the flag."""
    try:
        predict.check_model_dir(text)
    except data.DataError as e:
        one_line(e)
        assert str(e).startswith(f"--model-dir {values.shown(text)}: ") and str(e).isprintable(), e
        return
    assert Path(text).is_dir() or (text.startswith("gs://") and values.gs_problem(text) is None)


@given(names=st.lists(st.sampled_from(["", ".", "..", "no-such-folder", "x-missing"]), max_size=8))
@example(names=[])  # /
@example(names=["", ""])  # ///
@example(names=["no-such-folder", ".."])
def test_a_local_model_folder_is_refused_as_the_root_exactly_when_it_resolves_to_it(names):
    """An export replaces its folder, and the root is the whole disk: any absolute path that resolves to it (//, /./,
    /a/.., ...) is refused before anything lists it, and no other is. The oracle is the path's own names, each ..
    taking one back (none above the root, as POSIX has it)."""
    folder = "/" + "/".join(names)
    depth = 0
    for name in names:
        depth = max(depth - 1, 0) if name == ".." else depth + (name not in ("", "."))

    def listed(where):  # a root that got through would be walked whole: fail at once instead
        assert depth, f"listed {where}"
        return []

    with mock.patch.object(storage, "list_files", listed):
        try:
            export.check_replaceable(folder)
        except storage.StorageError as e:
            assert depth == 0 and str(e).startswith("is the root folder; "), (folder, e)
            return
    assert depth, f"{folder} was taken"
