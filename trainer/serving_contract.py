"""Vertex AI's custom-container contract for prediction, shared by the server (trainer/server.py), the launcher
(serve --local, predict, batch-predict) and trainer.predict: the routes a deployed model answers, the size of one
request, and the one reader of prediction instances and of the exported model's signature.

https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements: Vertex AI sets
AIP_HTTP_PORT (8080), AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE (/v1/endpoints/ENDPOINT/deployedModels/ID and
the same with :predict), and AIP_STORAGE_URI (the model's artifact folder).

An instance is {"image": 28 rows of 28 numbers in [0, 1]}, the SavedModel's serving signature, or the same
pixels as bytes in base64, {"image": {"b64": ...}} (the form TensorFlow Serving and Vertex AI use for binary
data): 784 bytes of uint8 (pixel / 255), or 3,136 bytes of little-endian float32, exact. `./submit.sh predict`
and `batch-predict` send float32 b64: one string per image to decode instead of 784 JSON numbers, the same
predictions; a request of only those is decoded and checked as one array (docs/serving.md, Speed). Anything
else (NaN, Infinity, -5, "0.5", true, a ragged or deeper list) is refused naming the instance and the value: a
model answers any float, so a NaN let through comes back as a 200 with NaN probabilities.
"""

from __future__ import annotations

import binascii
import os
from itertools import chain
from pathlib import Path

import numpy as np
import orjson
import pybase64  # base64 with SIMD: 0.6 µs per float32 image against CPython's 10 µs

from trainer.data import DataError
from trainer.values import shown

HTTP_PORT = 8080
ROUTES = {  # the shape of Vertex AI's routes, with "local" for the endpoint and the deployed model
    "AIP_HEALTH_ROUTE": "/v1/endpoints/local/deployedModels/local",
    "AIP_PREDICT_ROUTE": "/v1/endpoints/local/deployedModels/local:predict",
}
MAX_REQUEST_BYTES = 1_500_000  # online prediction's limit (`gcloud ai endpoints predict --help`)
SIDE = 28
INSTANCE = '{"image": 28x28 numbers in [0, 1]}'
NUMBERS = {int, float}  # JSON numbers as a parser gives them; bool, a subclass of int, is not one
EXPORTED_MODEL = "the model folder a run wrote (JOB_DIR/model)"


def has_saved_model(folder: Path) -> bool:
    """Whether a local folder holds the SavedModel the server loads, seen without TensorFlow: the server and
    `serve --local` refuse a folder without one before anything heavy starts."""
    return os.path.isfile(folder / "saved_model.pb")  # os.path: False, not OSError, for a name too long


def not_an_export(folder: Path, fix: str = f"pass {EXPORTED_MODEL}") -> str:
    """Why a local folder without saved_model.pb cannot be served, and what to do: a job's own folder (the mistake
    most made) names its model/; anything else gets the fix."""
    if has_saved_model(folder / "model"):
        return f"a job's folder, whose export is {folder / 'model'}: pass that"
    return f"no saved_model.pb there; {fix}"


def decode_json(body: bytes | str, where: str) -> object:
    """A JSON document, by orjson: invalid UTF-8, NaN or Infinity literals, numbers beyond a double and nesting
    deeper than 1,024 levels are refused (DataError naming where), never a RecursionError."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON ({e})") from None


def _shape(value: object) -> list[int]:
    """The lengths of value's nested lists, along their first elements (at most 4 deep)."""
    dims = []
    while isinstance(value, list) and len(dims) < 4:
        dims.append(len(value))
        value = value[0] if value else None
    return dims


def _rows(value: object, where: str) -> list[list]:
    """The image's 28 rows of 28 values, or DataError naming the shape it has, or the row that is off."""
    if _shape(value)[:2] != [SIDE, SIDE]:
        shape = _shape(value) if isinstance(value, list) else f"none: a {type(value).__name__}"
        raise DataError(f"{where}: image has shape {shape}, expected [28, 28]")
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != SIDE:
            got = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            raise DataError(f"{where}: image row {i} has {got}, expected 28 numbers")
    return value


def _in_range(pixels: np.ndarray, where: str) -> np.ndarray:
    """pixels as float32, or DataError naming the first one outside [0, 1] (NaN included)."""
    outside = ~((pixels >= 0) & (pixels <= 1))
    if outside.any():
        r, c = np.argwhere(outside)[0]
        raise DataError(f"{where}: pixel [{r}][{c}] is {pixels[r, c]:g}, expected a number in [0, 1]")
    return pixels.astype(np.float32)


def _b64decode(text: str) -> bytes | None:
    """The bytes of standard, padded base64 (RFC 4648, nothing else in it), or None."""
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        return None


def _from_b64(value: dict, where: str) -> np.ndarray:
    """{"b64": ...}: 784 uint8 pixels (/ 255) or 784 little-endian float32 ones."""
    text = value.get("b64") if set(value) == {"b64"} else None
    if not isinstance(text, str):
        raise DataError(f'{where}: expected {{"b64": base64 of 784 uint8 or 784 float32 pixels}}')
    raw = _b64decode(text)
    if raw is None:
        raise DataError(f"{where}: image b64 is not base64")
    if len(raw) == SIDE * SIDE:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) / 255.0).reshape(SIDE, SIDE)
    if len(raw) == SIDE * SIDE * 4:
        return _in_range(np.frombuffer(raw, "<f4").reshape(SIDE, SIDE), where)
    raise DataError(f"{where}: image b64 holds {len(raw)} bytes, expected 784 (uint8) or 3136 (float32)")


def to_b64(image: np.ndarray) -> dict:
    """The instance of one image [28, 28] in [0, 1] as float32 b64: exact, and decoded far faster than 784 numbers."""
    return {"image": {"b64": pybase64.b64encode(np.asarray(image, "<f4").tobytes()).decode()}}


def image(instance: object, where: str) -> np.ndarray:
    """One prediction instance as a float32 [28, 28] image in [0, 1]; DataError naming where and the value."""
    if not isinstance(instance, dict) or "image" not in instance:
        raise DataError(f"{where}: expected {INSTANCE}")
    if isinstance(instance["image"], dict):
        return _from_b64(instance["image"], where)
    rows = _rows(instance["image"], where)
    values = chain.from_iterable(rows)
    if not set(map(type, values)) <= NUMBERS:
        bad = next(v for v in chain.from_iterable(rows) if type(v) not in NUMBERS)
        raise DataError(f"{where}: image holds {orjson.dumps(bad).decode()[:40]}, expected numbers in [0, 1]")
    try:
        pixels = np.array(rows, np.float64)
    except OverflowError:  # an integer beyond a double
        pixels = np.full((SIDE, SIDE), np.inf)
    return _in_range(pixels, where)


def _float32_b64_batch(found: list) -> np.ndarray | None:
    """Instances that are all {"image": {"b64": float32 pixels in [0, 1]}}, what predict and batch-predict send,
    decoded and checked as one array: 64 images in a tenth of the per-instance path's time. None for anything
    else; the per-instance path then decides, and names what is wrong."""
    raws = []
    for instance in found:
        pixels = instance.get("image") if type(instance) is dict else None
        text = pixels.get("b64") if type(pixels) is dict and len(pixels) == 1 else None
        if type(text) is not str:
            return None
        raws.append(_b64decode(text))
        if raws[-1] is None or len(raws[-1]) != SIDE * SIDE * 4:
            return None
    batch = np.frombuffer(b"".join(raws), "<f4").reshape(len(raws), SIDE, SIDE)
    return batch.astype(np.float32) if ((batch >= 0) & (batch <= 1)).all() else None


def instances(request: object, where: str = "request") -> np.ndarray:
    """The images [n, 28, 28] float32 of a predict request {"instances": [...]}; DataError for anything else."""
    found = request.get("instances") if isinstance(request, dict) else None
    if not isinstance(found, list) or not found:
        raise DataError(f'{where}: expected {{"instances": [{INSTANCE}, ...]}}')
    batch = _float32_b64_batch(found)
    if batch is not None:
        return batch
    return np.stack([image(instance, f"instances[{i}]") for i, instance in enumerate(found)])


def serving_signature(loaded, where: str):
    """The `serving_default` function of a loaded SavedModel, once checked to be this trainer's: `image` float32
    [batch, 28, 28] in, `digit` and `probabilities` out. DataError naming where, for any other model."""
    where = shown(where)  # a folder's name with a line break stays on the error's one line
    signature = getattr(loaded, "signatures", {}).get("serving_default")
    if signature is None:
        raise DataError(f"{where}: the SavedModel has no serving_default signature; pass a model this trainer exported")
    spec = signature.structured_input_signature[1].get("image")
    shape = spec.shape.as_list() if spec is not None else None
    outputs = set(signature.structured_outputs)
    if (
        spec is None
        or spec.dtype.name != "float32"
        or shape[1:] != [SIDE, SIDE]
        or not {"digit", "probabilities"} <= outputs
    ):
        inputs = ", ".join(f"{k} {v.dtype.name} {v.shape}" for k, v in signature.structured_input_signature[1].items())
        raise DataError(
            f"{where}: serving_default takes {inputs or 'no named input'} and returns {', '.join(sorted(outputs))}; "
            "expected image float32 (None, 28, 28) in, digit and probabilities out: pass a model this trainer exported"
        )
    return signature
