"""Property-based tests (Hypothesis) over what a prediction reads from outside: PNG and JSON-lines files
(trainer.predict) and a prediction request's body (trainer.serving_contract, the server's and batch-predict's one
reader), float lists and b64 alike. Any input either parses to images in [0, 1] or is refused with our one error type
in one line; never another exception, never a non-finite pixel let through. The other properties:
test_fuzz_data.py (the training data), test_fuzz_model_folders.py (the model folders and the server's settings),
test_fuzz_settings.py, test_fuzz_job_flags.py and test_fuzz_trainer_settings.py (the settings' and flags' parsers and
hptuning.yaml). The @example lists keep the inputs that found defects. conftest.py sets the number of examples: a
bounded profile in the suite, `HYPOTHESIS_PROFILE=long` for CI's second step (docs/testing.md).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from trainer import data, predict, serving_contract

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
# 28 rows of 28 pixels, as a client writes them: a few drawn pixels, the rest one drawn value (drawing all 784 one by
# one took most of the JSON properties' time: about 80 ms an image, against 5).
GOOD_IMAGE = arrays(object, (28, 28), elements=PIXEL, fill=PIXEL).map(lambda pixels: pixels.tolist())


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


@pytest.mark.long  # among the slowest under HYPOTHESIS_PROFILE=long (6-13 s): first on a worker
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


@pytest.mark.long  # among the slowest under HYPOTHESIS_PROFILE=long (6-13 s): first on a worker
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


@pytest.mark.long  # among the slowest under HYPOTHESIS_PROFILE=long (6-13 s): first on a worker
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
