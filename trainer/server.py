"""The prediction server of our serving image (Dockerfile.serving): Vertex AI's own Custom Prediction Routine
model server (google-cloud-aiplatform[prediction]: FastAPI on uvicorn) with a Predictor for the trainer's
SavedModel, on the TensorFlow the model was trained with.

Vertex AI's custom-container contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements):
listen on AIP_HTTP_PORT, answer AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE, load the model from
AIP_STORAGE_URI. The CPR server loads the model before it listens, so it is healthy only once the model is
loaded; uvicorn drains in-flight requests on SIGTERM, then exits.

    {"instances": [{"image": 28x28 floats in [0, 1]}, ...]} -> {"predictions": [{"digit": d, "probabilities": [10]}]}

A body that is not that, a wrong shape, or more than 1.5 MB (Vertex AI's online prediction limit) gets 400
or 413 with a one-line message; the server keeps serving.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf
import uvicorn
from fastapi import HTTPException, Request, Response
from google.cloud.aiplatform.prediction.handler import PredictionHandler
from google.cloud.aiplatform.prediction.predictor import Predictor
from google.cloud.aiplatform.utils import prediction_utils

from trainer.contract import HTTP_PORT, MAX_REQUEST_BYTES, ROUTES


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
        self._serve = tf.saved_model.load(folder).signatures["serving_default"]

    def preprocess(self, prediction_input: dict) -> np.ndarray:
        """The instances as float32 images [n, 28, 28]; HTTPException 400 naming what is wrong."""
        instances = prediction_input.get("instances") if isinstance(prediction_input, dict) else None
        if not isinstance(instances, list) or not instances:
            raise _bad('expected {"instances": [{"image": 28x28 numbers}, ...]}')
        images = []
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict) or "image" not in instance:
                raise _bad(f'instances[{i}]: expected {{"image": 28x28 numbers}}')
            try:
                image = np.asarray(instance["image"], np.float32)
            except (TypeError, ValueError):
                raise _bad(f"instances[{i}]: image is not 28x28 numbers") from None
            if image.shape != (28, 28):
                raise _bad(f"instances[{i}]: image has shape {list(image.shape)}, expected [28, 28]")
            images.append(image)
        return np.stack(images)

    def predict(self, instances: np.ndarray) -> dict:
        out = self._serve(image=tf.constant(instances))
        return {"digit": out["digit"].numpy(), "probabilities": out["probabilities"].numpy()}

    def postprocess(self, prediction_results: dict) -> dict:
        digits, probabilities = prediction_results["digit"], prediction_results["probabilities"]
        return {
            "predictions": [
                {"digit": int(d), "probabilities": [float(p) for p in row]}
                for d, row in zip(digits, probabilities, strict=True)
            ]
        }


class LimitedHandler(PredictionHandler):
    """CPR's handler, with Vertex AI's request size limit: a larger body is 413 before it is parsed."""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            raise HTTPException(
                status_code=413, detail=f"request of {len(body):,} bytes; the limit is {MAX_REQUEST_BYTES:,}"
            )
        try:
            return await super().handle(request)
        except HTTPException as e:  # one line, whatever raised it (CPR's own JSON error spans lines)
            raise HTTPException(status_code=e.status_code, detail=" ".join(str(e.detail).split())) from None


def main() -> None:
    """Serve until SIGTERM, with the CPR model server and this module's handler and predictor."""
    os.environ.update(
        HANDLER_MODULE=__name__,
        HANDLER_CLASS="LimitedHandler",
        PREDICTOR_MODULE=__name__,
        PREDICTOR_CLASS="MnistPredictor",
    )
    for name, route in {"AIP_HTTP_PORT": str(HTTP_PORT), **ROUTES}.items():
        os.environ.setdefault(name, route)
    uvicorn.run(
        "google.cloud.aiplatform.prediction.model_server:CprModelServer",
        host="0.0.0.0",
        port=int(os.environ["AIP_HTTP_PORT"]),
        factory=True,
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
