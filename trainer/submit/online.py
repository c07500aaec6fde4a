"""`./submit.sh predict`: digits from a deployed endpoint, for the same inputs `trainer.predict` reads.

Images go as Vertex AI prediction instances, {"image": {"b64": float32 pixels}} (trainer/serving_contract.py),
in batches under the online-prediction request limit (1.5 MB, `gcloud ai endpoints predict --help`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from google.auth.credentials import Credentials
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from trainer import data, serving_contract
from trainer.predict import print_predictions, read_inputs
from trainer.serving_contract import MAX_REQUEST_BYTES
from trainer.submit.errors import SubmitError
from trainer.submit.serving import endpoint, init_sdk
from trainer.submit.settings import Settings

ENVELOPE = 1_000  # the rest of the request: {"instances": [...], "parameters": ...}


def instances(images) -> list[dict]:
    """Vertex AI instances, one per image, each the exact float32 pixels in base64 (serving_contract.to_b64)."""
    return [serving_contract.to_b64(image) for image in images]


def _request_size(instances: list) -> int:
    """Bytes of a predict request as the SDK's REST transport sends it (indented JSON, the largest form;
    gRPC's binary one is smaller)."""
    request = aiplatform_v1.PredictRequest()
    request.instances.extend(instances)  # as the SDK's client builds it
    return len(json_format.MessageToJson(aiplatform_v1.PredictRequest.pb(request)).encode())


@functools.cache
def _empty_request_size() -> int:
    return _request_size([])


def wire_size(instance: dict) -> int:
    """The bytes one instance adds to a request (its separator, a few bytes, is within ENVELOPE's margin)."""
    return _request_size([instance]) - _empty_request_size()


def batches(items: list[dict], limit: int = MAX_REQUEST_BYTES) -> list[list[dict]]:
    """Consecutive groups of instances that fit one request."""
    groups: list[list[dict]] = []
    current: list[dict] = []
    size = ENVELOPE
    for item in items:
        item_size = wire_size(item)
        if current and size + item_size > limit:
            groups.append(current)
            current, size = [], ENVELOPE
        current.append(item)
        size += item_size
    return groups + ([current] if current else [])


def read_all(files: list[str]) -> list[tuple[str, np.ndarray]]:
    """Every file's images, read before anything is sent: a bad file is one line (exit 2)."""
    try:
        return [(path, read_inputs(Path(path))) for path in files]
    except data.DataError as e:
        raise SubmitError(str(e)) from None


def predict(s: Settings, credentials: Credentials, endpoint_id: str, inputs: list[tuple[str, np.ndarray]]) -> int:
    """One line per image of each input (see read_all), from the endpoint's deployed model. Returns 0."""
    init_sdk(s, credentials)
    target = endpoint(s, endpoint_id)
    if not target.gca_resource.deployed_models:
        raise SubmitError(f"--endpoint {endpoint_id}: no model is deployed there; run ./submit.sh deploy first")
    for path, images in inputs:
        digits, probabilities = [], []
        for batch in batches(instances(images)):
            response = target.predict(instances=batch)
            digits += [int(p["digit"]) for p in response.predictions]
            probabilities += [p["probabilities"] for p in response.predictions]
        print_predictions(Path(path), digits, probabilities)
    return 0
