"""Vertex AI's custom-container contract for prediction, shared by the server (trainer/server.py) and the
launcher (serve --local, predict): the routes a deployed model answers and the size of one request.

https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements: Vertex AI sets
AIP_HTTP_PORT (8080), AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE (/v1/endpoints/ENDPOINT/deployedModels/ID and
the same with :predict), and AIP_STORAGE_URI (the model's artifact folder)."""

HTTP_PORT = 8080
ROUTES = {  # the shape of Vertex AI's routes, with "local" for the endpoint and the deployed model
    "AIP_HEALTH_ROUTE": "/v1/endpoints/local/deployedModels/local",
    "AIP_PREDICT_ROUTE": "/v1/endpoints/local/deployedModels/local:predict",
}
MAX_REQUEST_BYTES = 1_500_000  # online prediction's limit (`gcloud ai endpoints predict --help`)
