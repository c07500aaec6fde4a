"""The Model Registry, endpoints and online prediction of the fake Vertex AI API (tests/fake_vertex.py).

Requests are parsed into the SDK's own aiplatform_v1 types (unknown fields are errors). Upload, endpoint
creation, deploy, undeploy and delete answer with long-running operations that finish in a thread, as
Vertex AI's do; deploy really loads the uploaded SavedModel, and predict really runs it on the instances
and answers in Vertex's predict response format. Uploading a folder with no saved_model.pb fails the
operation with op.FAILED_PRECONDITION, the prebuilt TensorFlow container's requirement.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from urllib.parse import unquote, urlsplit

import fake_operations as op
from fastapi import HTTPException
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, json_format

from trainer.predictor import MnistPredictor


class FakeServing:
    def __init__(self, local_path) -> None:
        self.local_path = local_path  # gs:// URI -> the local folder the fake's storage keeps it in
        self.models: dict[str, list[v1.Model]] = {}  # model name -> its versions, 1 first
        self.endpoints: dict[str, v1.Endpoint] = {}
        self.predict_requests: list[tuple[int, int]] = []  # (instances, bytes) of each predict request
        self._predictors: dict[str, MnistPredictor] = {}  # deployed model id -> the serving image's predictor
        self._ids = itertools.count(1000)
        self._operations = op.Operations(self._ids)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ routing

    def _match(self, method: str, url: str):
        """(the route's method, the name or parent it names) for a serving request, or None."""
        path, query = unquote(urlsplit(url).path), urlsplit(url).query
        routes = [
            ("POST", rf"/v1/({op.LOCATION})/models:upload", self._upload),
            ("GET", rf"/v1/({op.LOCATION})/models", lambda parent: self._model_list(parent, query)),
            ("GET", rf"/v1/({op.LOCATION}/models/[^/:@]+(?:@\d+)?)", self._get_model),
            ("POST", rf"/v1/({op.LOCATION})/endpoints", self._create_endpoint),
            ("GET", rf"/v1/({op.LOCATION})/endpoints", lambda parent: self._endpoint_list(parent, query)),
            ("GET", rf"/v1/({op.LOCATION}/endpoints/[^/:]+)", lambda name: op.to_json(self._endpoint(name))),
            ("DELETE", rf"/v1/({op.LOCATION}/endpoints/[^/:]+)", self._delete_endpoint),
            ("POST", rf"/v1/({op.LOCATION}/endpoints/[^/:]+):deployModel", self._deploy),
            ("POST", rf"/v1/({op.LOCATION}/endpoints/[^/:]+):undeployModel", self._undeploy),
            ("POST", rf"/v1/({op.LOCATION}/endpoints/[^/:]+):predict", self._predict),
            ("GET", rf"/(?:v1|ui)/({op.LOCATION}/operations/\d+)", self._operations.get),  # the SDK polls at /ui/
        ]
        for verb, pattern, route in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return route, match.group(1)
        return None

    def route(self, method: str, url: str):
        """For a serving request, what answers it: raw body -> (HTTP status, JSON); None if not one."""
        found = self._match(method, url)
        if found is None:
            return None
        route, name = found

        def answer(raw: str) -> tuple[int, str]:
            try:
                return 200, route(name, *([raw] if method == "POST" else []))
            except op.Refused as e:
                return op.error_answer(*e.args)

        return answer

    # ------------------------------------------------------------ Model Registry

    def _upload(self, parent: str, raw: str) -> str:
        request = op.parse(v1.UploadModelRequest, raw)
        model = request.model
        if not model.display_name or not model.container_spec.image_uri:
            raise op.Refused(op.INVALID_ARGUMENT, "model.display_name and model.container_spec.image_uri are required")
        if request.parent_model and request.parent_model not in self.models:
            raise op.Refused(op.NOT_FOUND, f"parent model {request.parent_model} not found")

        def work():
            folder = self.local_path(model.artifact_uri)
            if not (folder / "saved_model.pb").is_file():
                raise op.Refused(
                    op.FAILED_PRECONDITION,
                    f"Model directory {model.artifact_uri} is expected to contain exactly one of: "
                    "[saved_model.pb, saved_model.pbtxt].",
                )
            with self._lock:
                name = request.parent_model or f"{parent}/models/{next(self._ids)}"
                versions = self.models.setdefault(name, [])
                for old in versions:
                    old.version_aliases = [a for a in old.version_aliases if a != "default"]
                model.name, model.version_id = name, str(len(versions) + 1)
                model.version_aliases = ["default"]
                # What Vertex AI fills in for a model served by a prebuilt container; the SDK checks it.
                model.supported_deployment_resources_types = [v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES]
                model.create_time = model.version_create_time = op.now()
                versions.append(model)
            return v1.UploadModelResponse(model=name, model_version_id=model.version_id)

        return self._operations.start(parent, v1.UploadModelOperationMetadata(), work)

    def _model(self, name: str) -> v1.Model:
        base, _, version = name.partition("@")
        with self._lock:
            versions = self.models.get(base, [])
            found = [m for m in versions if (m.version_id == version if version else "default" in m.version_aliases)]
        if not found:
            raise op.Refused(op.NOT_FOUND, f"Model {name} not found")
        return found[0]

    def _get_model(self, name: str) -> str:
        return op.to_json(self._model(name))

    def _model_list(self, parent: str, query: str) -> str:
        keep = op.list_filter(query)
        with self._lock:
            models = [self._default(v) for n, v in self.models.items() if n.startswith(parent + "/")]
        return op.list_answer("models", [m for m in models if keep(m)])

    @staticmethod
    def _default(versions: list[v1.Model]) -> v1.Model:
        return next(m for m in versions if "default" in m.version_aliases)

    # ------------------------------------------------------------ endpoints

    def _create_endpoint(self, parent: str, raw: str) -> str:
        endpoint = op.parse(v1.Endpoint, raw)
        if not endpoint.display_name:
            raise op.Refused(op.INVALID_ARGUMENT, "endpoint.display_name is required")

        def work():
            with self._lock:
                endpoint.name = f"{parent}/endpoints/{next(self._ids)}"
                endpoint.create_time = op.now()
                self.endpoints[endpoint.name] = endpoint
            return endpoint

        return self._operations.start(parent, v1.CreateEndpointOperationMetadata(), work)

    def _endpoint(self, name: str) -> v1.Endpoint:
        with self._lock:
            if name not in self.endpoints:
                raise op.Refused(op.NOT_FOUND, f"Endpoint {name} not found")
            return self.endpoints[name]

    def _endpoint_list(self, parent: str, query: str) -> str:
        keep = op.list_filter(query)
        with self._lock:
            found = [e for n, e in self.endpoints.items() if n.startswith(parent + "/")]
        return op.list_answer("endpoints", [e for e in found if keep(e)])

    def _delete_endpoint(self, name: str) -> str:
        endpoint = self._endpoint(name)
        if endpoint.deployed_models:
            raise op.Refused(op.FAILED_PRECONDITION, f"Endpoint {name} has deployed models; undeploy them first")

        def work():
            with self._lock:
                del self.endpoints[name]
            return empty_pb2.Empty()

        return self._operations.start(name, v1.DeleteOperationMetadata(), work)

    def _deploy(self, name: str, raw: str) -> str:
        request = op.parse(v1.DeployModelRequest, raw)
        endpoint, deployed = self._endpoint(name), request.deployed_model
        model = self._model(deployed.model)  # op.NOT_FOUND op.now, before anything changes
        resources = deployed.dedicated_resources
        if not resources.machine_spec.machine_type or resources.min_replica_count < 1:
            raise op.Refused(op.INVALID_ARGUMENT, "dedicated_resources needs a machine_type and min_replica_count >= 1")
        if sum(request.traffic_split.values()) != 100:
            raise op.Refused(op.INVALID_ARGUMENT, f"traffic_split {dict(request.traffic_split)} must add up to 100")

        def work():
            predictor = MnistPredictor()  # the serving image's own code, as Vertex AI would run it
            predictor.load(str(self.local_path(model.artifact_uri)))
            with self._lock:
                deployed.id = str(next(self._ids))
                deployed.model, deployed.model_version_id = model.name, model.version_id  # as Vertex AI stores it
                deployed.create_time = op.now()
                self._predictors[deployed.id] = predictor
                endpoint.deployed_models.append(deployed)
                split = {deployed.id if k == "0" else k: v for k, v in request.traffic_split.items()}
                endpoint.traffic_split.clear()
                endpoint.traffic_split.update({k: v for k, v in split.items() if v})
            return v1.DeployModelResponse(deployed_model=deployed)

        return self._operations.start(name, v1.DeployModelOperationMetadata(), work)

    def _undeploy(self, name: str, raw: str) -> str:
        request = op.parse(v1.UndeployModelRequest, raw)
        endpoint = self._endpoint(name)
        if request.deployed_model_id not in [d.id for d in endpoint.deployed_models]:
            raise op.Refused(op.NOT_FOUND, f"deployed model {request.deployed_model_id} not found on {name}")

        def work():
            with self._lock:
                kept = [d for d in endpoint.deployed_models if d.id != request.deployed_model_id]
                del endpoint.deployed_models[:]
                endpoint.deployed_models.extend(kept)
                split = dict(request.traffic_split) or dict(endpoint.traffic_split)
                split.pop(request.deployed_model_id, None)
                endpoint.traffic_split.clear()
                endpoint.traffic_split.update({k: v for k, v in split.items() if v})
                self._predictors.pop(request.deployed_model_id, None)
            return v1.UndeployModelResponse()

        return self._operations.start(name, v1.UndeployModelOperationMetadata(), work)

    # ------------------------------------------------------------ prediction

    def _predict(self, name: str, raw: str) -> str:
        request = op.parse(v1.PredictRequest, raw)
        endpoint = self._endpoint(name)
        with self._lock:
            serving = [
                (d, self._predictors[d.id]) for d in endpoint.deployed_models if endpoint.traffic_split.get(d.id)
            ]
            self.predict_requests.append((len(request.instances), len(raw.encode())))
        if not serving:
            raise op.Refused(op.FAILED_PRECONDITION, f"Endpoint {name} has no deployed model with traffic")
        deployed, predictor = serving[0]
        try:  # the serving image's preprocess, predict and postprocess, as its server runs them
            body = {"instances": json_format.MessageToDict(v1.PredictRequest.pb(request)).get("instances", [])}
            predictions = predictor.postprocess(predictor.predict(predictor.preprocess(body)))["predictions"]
        except HTTPException as e:
            raise op.Refused(op.INVALID_ARGUMENT, e.detail) from None
        model = self._model(f"{deployed.model}@{deployed.model_version_id}")
        answer = {
            "predictions": predictions,
            "deployedModelId": deployed.id,
            "model": deployed.model,
            "modelVersionId": deployed.model_version_id,
            "modelDisplayName": model.display_name,
        }
        return op.to_json(op.parse(v1.PredictResponse, json.dumps(answer)))  # checked against the response type
