"""From a trained model to an endpoint and back: `deploy`, `undeploy`, through the aiplatform SDK.

The model goes to the Model Registry with this project's serving image (Dockerfile.serving: the training
TensorFlow behind Vertex AI's Custom Prediction Routine server, trainer/server.py), or with a prebuilt
TensorFlow image given as --serving-image, checked against its end of availability (prebuilt.py).
tests/test_serving_tf215.py proves that the trainer's export loads and serves in the prebuilt images'
TensorFlow 2.15 while they are still offered.
"""

from __future__ import annotations

import datetime
import re
import sys

from google.api_core import exceptions
from google.auth.credentials import Credentials
from google.cloud import aiplatform

from trainer.submit import clients, names, prebuilt
from trainer.submit.errors import SubmitError
from trainer.submit.options import DeployOptions
from trainer.submit.settings import Settings
from trainer.values import shown


def init_sdk(s: Settings, credentials: Credentials) -> None:
    """Configure the SDK's Model Registry and endpoint classes for this command's project and region."""
    local_endpoint = clients.local(s)
    aiplatform.init(
        project=s.project,
        location=s.region,
        api_endpoint=s.api_endpoint,
        api_transport="rest" if local_endpoint else None,  # a local server speaks REST, not gRPC
        credentials=credentials,
    )


def serving_image(s: Settings, image: str | None) -> str:
    """The prediction image: --serving-image (a prebuilt one checked against its end of availability, with a
    warning within 90 days of it), else this project's own, built by ./submit.sh build."""
    if image is None:
        return s.image_uri("serving")
    warning = prebuilt.check(image, datetime.date.today())
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return image


def check_in_cloud_storage(model_dir: str) -> None:
    """A model folder in Cloud Storage, where Vertex AI can read it; one line (exit 2) for anything else."""
    if not re.fullmatch(r"gs://[^/]+/.+", model_dir.rstrip("/")):
        raise SubmitError(
            f"--model-dir {shown(model_dir)}: must be a model folder in Cloud Storage, gs://BUCKET/PATH "
            "(a job's outputs/model; copy a local export there with: gcloud storage cp -r DIR gs://BUCKET/PATH)"
        )
    names.gcs_place("--model-dir", model_dir, need_path=True)


def _by_display_name(resource_class, display_name: str):
    """The newest resource of this kind with this display name, or None."""
    found = resource_class.list(filter=f'display_name="{display_name}"', order_by="create_time desc")
    return found[0] if found else None


def registered(s: Settings, name: str) -> str:
    """The resource name of the model NAME (its default version) or NAME@VERSION in the Model Registry; one
    line (exit 2) if there is none."""
    display_name, _, version = name.partition("@")
    found = _by_display_name(aiplatform.Model, display_name)
    if found is None:
        raise SubmitError(f"--model {name}: no model named {display_name} in project {s.project}, region {s.region}")
    return f"{found.resource_name}@{version}" if version else found.resource_name


def endpoint(s: Settings, name_or_id: str) -> aiplatform.Endpoint:
    """The endpoint named by its ID or resource name (the SDK already configured by init_sdk; the name checked by
    DeployOptions or OnEndpoint); one line (exit 2) if it does not exist."""
    try:
        found = aiplatform.Endpoint(name_or_id)
        found.display_name  # noqa: B018 (the SDK reads the endpoint lazily: read it now, so a missing one fails here)
        return found
    except exceptions.NotFound:
        raise SubmitError(
            f"--endpoint {name_or_id}: no such endpoint in project {s.project}, region {s.region}"
        ) from None


def upload(model_name: str, model_dir: str, image: str, labels: dict[str, str]) -> aiplatform.Model:
    """model_dir into the Model Registry, served by image: a new version of the model named model_name if
    there is one (the SDK configured by init_sdk)."""
    parent = _by_display_name(aiplatform.Model, model_name)
    try:
        return aiplatform.Model.upload(
            display_name=model_name,
            artifact_uri=model_dir,
            serving_container_image_uri=image,
            parent_model=parent.resource_name if parent else None,
            is_default_version=True,
            labels=labels,
            sync=True,
        )
    except exceptions.GoogleAPICallError as e:
        if re.search(r"saved_model\.pb", str(e.message)):
            raise SubmitError(
                f"--model-dir {shown(model_dir)}: no saved_model.pb there; pass the model folder a training job wrote "
                "(BUCKET/DISPLAY_NAME/model)"
            ) from None
        raise


def deploy(opts: DeployOptions, s: Settings, credentials: Credentials, model_dir: str) -> int:
    """Upload model_dir (a new version if a model with opts.model_name exists), deploy it to the endpoint
    with all the traffic, then undeploy the versions it replaced unless opts.keep_previous. Returns 0."""
    model_dir = model_dir.rstrip("/")
    check_in_cloud_storage(model_dir)
    image = serving_image(s, opts.serving_image)  # a retired prebuilt image: refused before anything is sent
    init_sdk(s, credentials)
    target = endpoint(s, opts.endpoint) if opts.endpoint else None
    model = upload(opts.model_name, model_dir, image, dict(opts.labels))
    print(f"model: {model.resource_name} version {model.version_id} (from {model_dir})", flush=True)
    target = target or _by_display_name(aiplatform.Endpoint, opts.endpoint_name)
    target = target or aiplatform.Endpoint.create(display_name=opts.endpoint_name, labels=dict(opts.labels), sync=True)
    previous = [m.id for m in target.list_models()]
    target.deploy(
        model=model,
        deployed_model_display_name=f"{opts.model_name}-v{model.version_id}",
        machine_type=opts.machine_type,
        min_replica_count=opts.min_replicas,
        max_replica_count=opts.max_replicas,
        traffic_percentage=100,
        sync=True,
    )
    if not opts.keep_previous:
        for deployed_id in previous:  # they now get no traffic but are still billed by the hour
            target.undeploy(deployed_model_id=deployed_id, sync=True)
    endpoint_id = target.resource_name.rsplit("/", 1)[-1]
    where = f"--project {s.project} --region {s.region}"
    print(
        f"endpoint: {target.resource_name} ({opts.machine_type}, {opts.min_replicas}-{opts.max_replicas} "
        f"replicas, 100% of traffic to version {model.version_id})\n"
        f"predict:  ./submit.sh predict {where} --endpoint {endpoint_id} FILE...\n"
        f"undeploy: ./submit.sh undeploy {where} --endpoint {endpoint_id} [--delete-endpoint]  "
        "(a deployed model is billed by the hour until then)",
        flush=True,
    )
    return 0


def undeploy(s: Settings, credentials: Credentials, endpoint_id: str, delete_endpoint: bool) -> int:
    """Undeploy every model from the endpoint, and delete it with delete_endpoint. Returns 0."""
    init_sdk(s, credentials)
    target = endpoint(s, endpoint_id)
    deployed = target.list_models()
    target.undeploy_all(sync=True)  # the SDK moves traffic off each model before it goes
    for model in deployed:
        print(f"undeployed: {model.display_name} ({model.model}, version {model.model_version_id})", flush=True)
    if delete_endpoint:
        target.delete(sync=True)
        print(f"deleted: {target.resource_name}", flush=True)
    if not deployed and not delete_endpoint:
        print(f"{target.resource_name}: no model was deployed", flush=True)
    return 0
