"""`./submit.sh predict`: digits from a deployed endpoint, for the same inputs `trainer.predict` reads.

Images go as Vertex AI prediction instances, {"image": 28x28 floats}, the SavedModel's serving signature,
in batches under the online-prediction request limit (1.5 MB, `gcloud ai endpoints predict --help`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from trainer import data
from trainer.predict import print_predictions, read_inputs
from trainer.submit import errors, vertex
from trainer.submit.serving import endpoint
from trainer.submit.settings import Settings, SubmitError

REQUEST_LIMIT = 1_500_000  # bytes of one request's JSON
ENVELOPE = 1_000  # the rest of the request: {"instances": [...], "parameters": ...}


def instances(images) -> list[dict]:
    """Vertex AI instances, one per image, each pixel the exact float32 value (no rounding on the way)."""
    return [{"image": image.tolist()} for image in images]


def _request_size(instances: list) -> int:
    """Bytes of a predict request as the SDK's REST transport sends it (indented JSON, the largest form;
    gRPC's binary one is smaller)."""
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    request = aiplatform_v1.PredictRequest()
    request.instances.extend(instances)  # as the SDK's client builds it
    return len(json_format.MessageToJson(aiplatform_v1.PredictRequest.pb(request)).encode())


@functools.cache
def _empty_request_size() -> int:
    return _request_size([])


def wire_size(instance: dict) -> int:
    """The bytes one instance adds to a request (its separator, a few bytes, is within ENVELOPE's margin)."""
    return _request_size([instance]) - _empty_request_size()


def batches(items: list[dict], limit: int = REQUEST_LIMIT) -> list[list[dict]]:
    """Consecutive groups of instances that fit one request."""
    groups, current, size = [], [], ENVELOPE
    for item in items:
        item_size = wire_size(item)
        if current and size + item_size > limit:
            groups.append(current)
            current, size = [], ENVELOPE
        current.append(item)
        size += item_size
    return groups + ([current] if current else [])


def predict(args, s: Settings) -> int:
    """Read every file first (a bad one is one line, exit 2, nothing sent), then one line per image."""
    from google.api_core import exceptions

    try:
        inputs = [(path, read_inputs(Path(path))) for path in args.files]
    except data.DataError as e:
        raise SubmitError(str(e)) from None
    vertex.init_sdk(s, dry_run=False)
    target = endpoint(s, args.endpoint)
    if not target.gca_resource.deployed_models:
        raise SubmitError(f"--endpoint {args.endpoint}: no model is deployed there; run ./submit.sh deploy first")
    for path, images in inputs:
        digits, probabilities = [], []
        for batch in batches(instances(images)):
            try:
                response = target.predict(instances=batch)
            except exceptions.GoogleAPICallError as e:
                errors.raise_one_line(e, s)
            digits += [int(p["digit"]) for p in response.predictions]
            probabilities += [p["probabilities"] for p in response.predictions]
        print_predictions(path, digits, probabilities)
    return 0
