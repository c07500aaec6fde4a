"""Our Predictor and handler for Vertex AI's own Custom Prediction Routine model server
(google-cloud-aiplatform[prediction]: FastAPI on uvicorn), which trainer/server.py starts: the trainer's SavedModel
on the TensorFlow it was trained with. The fake Vertex AI API serves deployed models with the same predictor.

    {"instances": [{"image": 28x28 floats in [0, 1]}, ...]} -> {"predictions": [{"digit": d, "probabilities": [10]}]}

Every request gets an answer in one line and the server keeps serving:
- 413 for a body over 1.5 MB (Vertex AI's online prediction limit), decided on its Content-Length before a byte
  is kept (a body up to 24 MB is read and dropped first, so that the client reads the answer, not a reset; a
  larger one is refused at once), or, for a chunked body, as it passes the limit;
- 408 for a body that has not arrived BODY_SECONDS after the request began (a client that stalls holds nothing);
- 400 for a body that is not JSON (orjson: no NaN, no nesting deeper than 1,024 levels) or not instances the
  contract (trainer/serving_contract.py) accepts: NaN, Infinity, values outside [0, 1], strings and booleans included.
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import numpy as np
import orjson
import tensorflow as tf
from fastapi import HTTPException, Request, Response
from google.cloud.aiplatform.prediction.handler import PredictionHandler
from google.cloud.aiplatform.prediction.predictor import Predictor
from google.cloud.aiplatform.utils import prediction_utils

from trainer import data, serving_contract
from trainer.serving_contract import MAX_REQUEST_BYTES

BODY_SECONDS = 10.0  # the longest a request body may take to arrive: 150 kB/s at the size limit
DRAIN_BYTES = 16 * MAX_REQUEST_BYTES  # a body over the limit but under this is read and dropped before the 413


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


class MnistPredictor(Predictor):
    """The trainer's SavedModel behind the CPR interface: load, preprocess, predict, postprocess."""

    def load(self, artifacts_uri: str) -> None:
        """The SavedModel at artifacts_uri: a gs:// folder is first copied here, as Vertex AI's CPR does."""
        folder = artifacts_uri
        if artifacts_uri.startswith("gs://"):
            folder, cwd = tempfile.mkdtemp(prefix="model-"), os.getcwd()
            os.chdir(folder)  # the SDK's copy writes into the working directory
            try:
                prediction_utils.download_model_artifacts(artifacts_uri.rstrip("/"))
            finally:
                os.chdir(cwd)
        self._serve = serving_contract.serving_signature(tf.saved_model.load(folder), artifacts_uri)

    def preprocess(self, prediction_input: dict) -> np.ndarray:
        """The instances as float32 images [n, 28, 28]; HTTPException 400 naming the instance and what is wrong."""
        try:
            return serving_contract.instances(prediction_input)
        except data.DataError as e:
            raise _bad(str(e)) from None

    def predict(self, instances: np.ndarray) -> dict:
        out = self._serve(image=tf.constant(instances))
        return {"digit": out["digit"].numpy(), "probabilities": out["probabilities"].numpy()}

    def postprocess(self, prediction_results: dict) -> dict:
        digits, probabilities = prediction_results["digit"].tolist(), prediction_results["probabilities"].tolist()
        return {
            "predictions": [
                {"digit": d, "probabilities": row} for d, row in zip(digits, probabilities, strict=True)
            ]  # tolist(): Python ints and floats, converted in C
        }


def _too_large(size: int | str) -> HTTPException:
    return HTTPException(status_code=413, detail=f"request of {size} bytes; the limit is {MAX_REQUEST_BYTES:,}")


async def read_body(request: Request) -> bytes:
    """The request's body, within Vertex AI's limit: over it is 413, decided on the Content-Length before a byte is
    kept, or, for a chunked body, as it passes the limit. A body up to DRAIN_BYTES is read to its end (and dropped)
    first, so that the client, still sending, reads the 413 rather than a reset connection; a larger one is
    refused at once. 408 when a body within the limit has not all arrived within BODY_SECONDS; one past the limit
    is 413 however slowly it comes, so the answer never depends on the machine's or the network's speed."""
    declared = request.headers.get("content-length", "")
    declared = int(declared) if declared.isdigit() else None
    if declared is not None and declared > DRAIN_BYTES:
        raise _too_large(f"{declared:,}")

    chunks, size = [], 0
    over = declared is not None and declared > MAX_REQUEST_BYTES  # decided on the Content-Length: nothing is kept

    async def receive() -> None:
        nonlocal size, over
        async for chunk in request.stream():
            size += len(chunk)
            over = over or size > MAX_REQUEST_BYTES
            if size > DRAIN_BYTES:
                break
            if not over:
                chunks.append(chunk)

    try:
        await asyncio.wait_for(receive(), BODY_SECONDS)
    except asyncio.TimeoutError:
        if not over:  # a body already past the limit is 413 however slowly it comes
            raise HTTPException(
                status_code=408, detail=f"the request body did not arrive within {BODY_SECONDS:g} s"
            ) from None
    if over:
        raise _too_large(
            f"{declared or size:,}" if max(declared or 0, size) <= DRAIN_BYTES else f"over {DRAIN_BYTES:,}"
        )
    return b"".join(chunks)


class LimitedHandler(PredictionHandler):
    """CPR's handler with Vertex AI's limits on the body (read_body), decoded by orjson, in and out."""

    async def handle(self, request: Request) -> Response:
        body = await read_body(request)
        try:
            request_json = serving_contract.decode_json(body, "request body")
        except data.DataError as e:
            raise _bad(str(e)) from None
        predictor = self._predictor
        answer = predictor.postprocess(predictor.predict(predictor.preprocess(request_json)))
        return Response(content=orjson.dumps(answer), media_type="application/json")
