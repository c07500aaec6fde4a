"""The prediction server of our serving image (Dockerfile.serving): Vertex AI's own Custom Prediction Routine
model server (google-cloud-aiplatform[prediction]: FastAPI on uvicorn) with our predictor and handler
(trainer/predictor.py), on the TensorFlow the model was trained with.

Vertex AI's custom-container contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements):
listen on AIP_HTTP_PORT, answer AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE, load the model from
AIP_STORAGE_URI. The CPR server is made, and so the model loaded, before uvicorn listens, so it is healthy only
once the model is loaded; uvicorn drains in-flight requests on SIGTERM, then exits.

Settings it cannot serve with are one line and exit 2, never a traceback: a local AIP_STORAGE_URI without a
saved_model.pb is refused before TensorFlow loads, and a model that does not load (a gs:// folder that cannot
be copied, a file that is not a SavedModel, a SavedModel that is not this trainer's) once it is tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from trainer import process
from trainer.serving_contract import EXPORTED_MODEL, HTTP_PORT, ROUTES, has_saved_model, not_an_export
from trainer.values import shown

RUN_WROTE = f"set it to {EXPORTED_MODEL}, as Vertex AI does"


class ServerError(Exception):
    """A setting the server cannot serve with: one line, exit 2."""


def settings(env: Mapping[str, str]) -> tuple[str, int]:
    """The model's location and the port from Vertex AI's variables (the port defaults to 8080). ServerError for
    what can be seen without TensorFlow: no AIP_STORAGE_URI, a local one without saved_model.pb, a bad port."""
    uri = env.get("AIP_STORAGE_URI", "")
    if not uri:
        raise ServerError(f"AIP_STORAGE_URI is not set; {RUN_WROTE}")
    if not uri.startswith("gs://") and not has_saved_model(Path(uri)):
        raise ServerError(f"AIP_STORAGE_URI {shown(uri)}: {not_an_export(Path(uri), RUN_WROTE)}")
    port = env.get("AIP_HTTP_PORT", str(HTTP_PORT))
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ServerError(f"AIP_HTTP_PORT {port!r}: not a port number; give one from 1 to 65535")
    return uri, int(port)


def cpr_server(uri: str):
    """Vertex AI's CPR model server with our handler and predictor, its model loaded from uri (AIP_STORAGE_URI,
    which the server reads itself). ServerError, in one line, when the model cannot be copied or loaded or is not
    this trainer's."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.aiplatform.prediction.model_server import CprModelServer
    from tensorflow.errors import OpError

    from trainer.data import DataError

    try:
        return CprModelServer()
    except DataError as e:  # names the folder: not this trainer's model
        raise ServerError(f"AIP_STORAGE_URI {e}") from None
    except (OSError, ValueError, OpError, GoogleAPIError, GoogleAuthError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise ServerError(f"AIP_STORAGE_URI {shown(uri)}: cannot load the model ({detail})") from None


def main() -> int:
    """Serve until SIGTERM; 2, after one line on stderr, for settings or a model it cannot serve with."""
    try:
        uri, port = settings(os.environ)
        os.environ.update(
            AIP_HTTP_PORT=str(port),
            HANDLER_MODULE="trainer.predictor",
            HANDLER_CLASS="LimitedHandler",
            PREDICTOR_MODULE="trainer.predictor",
            PREDICTOR_CLASS="MnistPredictor",
        )
        for name, route in ROUTES.items():
            os.environ.setdefault(name, route)
        app = cpr_server(uri)
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import uvicorn

    # No access log: the container's stdout goes to Cloud Logging, billed per line, and Vertex AI keeps its own
    # access log when a deployment asks for it (docs: vertex-ai/docs/predictions/online-prediction-logging).
    # Per 64-image request it also cost 0.2-0.5 ms of a 5-ms answer (benchmarks/serving.py, docs/serving.md).
    uvicorn.run(app, host="0.0.0.0", port=port, timeout_graceful_shutdown=30, access_log=False)
    return 0


if __name__ == "__main__":
    process.end(main())
