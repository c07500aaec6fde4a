"""From a trained model to an endpoint and back: `deploy`, `undeploy`, through the aiplatform SDK.

The model goes to the Model Registry with Vertex AI's prebuilt TensorFlow prediction image. Those images
stop at TensorFlow 2.15 (the SDK's own helper lists 2.15 as the newest); tests/test_serving_tf215.py proves
that the trainer's export (TensorFlow 2.20, Keras 3, every precision) loads and serves in TensorFlow 2.15.
"""

from __future__ import annotations

import re

from trainer.submit import errors, vertex
from trainer.submit.settings import Settings, SubmitError

SERVING_TENSORFLOW = "2.15"  # https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers


def serving_image(s: Settings, image: str | None) -> str:
    """The prediction image: --serving-image, else the prebuilt TensorFlow CPU image of the job's region."""
    from google.cloud import aiplatform

    return image or aiplatform.helpers.get_prebuilt_prediction_container_uri(
        "tensorflow", SERVING_TENSORFLOW, s.region, "cpu"
    )


def check_deploy_args(args, model_dir: str | None = None) -> None:
    """One line for each impossible deploy setting, before anything is sent (for `train --deploy`, before
    the job is: not an hour later). model_dir None: the job's own, which is fine."""
    if model_dir is not None and not re.fullmatch(r"gs://[^/]+/.+", model_dir.rstrip("/")):
        raise SubmitError(
            f"--model-dir {model_dir}: must be a model folder in Cloud Storage, gs://BUCKET/PATH "
            "(a job's outputs/model; copy a local export there with: gcloud storage cp -r DIR gs://BUCKET/PATH)"
        )
    if args.min_replicas < 1 or args.max_replicas < args.min_replicas:
        raise SubmitError(
            f"--min-replicas {args.min_replicas} --max-replicas {args.max_replicas}: "
            "need 1 <= min <= max (Vertex AI keeps at least one replica of a deployed model)"
        )


def _by_display_name(resource_class, display_name: str):
    """The newest resource of this kind with this display name, or None."""
    found = resource_class.list(filter=f'display_name="{display_name}"', order_by="create_time desc")
    return found[0] if found else None


def _explain_upload(e, s: Settings, model_dir: str) -> None:
    if re.search(r"saved_model\.pb", str(e.message)):
        raise SubmitError(
            f"--model-dir {model_dir}: no saved_model.pb there; pass the model folder a training job wrote "
            "(BUCKET/DISPLAY_NAME/model)"
        ) from None
    errors.raise_one_line(e, s)


def endpoint(s: Settings, name_or_id: str):
    """The endpoint named by its ID or resource name (the SDK already configured by vertex.init_sdk);
    one line (exit 2) if it does not exist."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    try:
        found = aiplatform.Endpoint(name_or_id)
        found.display_name  # noqa: B018 (the SDK reads the endpoint lazily: read it now, so a missing one fails here)
        return found
    except exceptions.NotFound:
        raise SubmitError(
            f"--endpoint {name_or_id}: no such endpoint in project {s.project}, region {s.region}"
        ) from None
    except exceptions.GoogleAPICallError as e:
        errors.raise_one_line(e, s)


def deploy(args, s: Settings, model_dir: str) -> int:
    """Upload model_dir (a new version if a model with --model-name exists), deploy it to the endpoint
    with all the traffic, then undeploy the versions it replaced unless --keep-previous. Returns 0."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    model_dir = model_dir.rstrip("/")
    check_deploy_args(args, model_dir)
    vertex.init_sdk(s, dry_run=False)
    target = endpoint(s, args.endpoint) if args.endpoint else None
    try:
        parent = _by_display_name(aiplatform.Model, args.model_name)
        try:
            model = aiplatform.Model.upload(
                display_name=args.model_name,
                artifact_uri=model_dir,
                serving_container_image_uri=serving_image(s, args.serving_image),
                parent_model=parent.resource_name if parent else None,
                is_default_version=True,
                sync=True,
            )
        except exceptions.GoogleAPICallError as e:
            _explain_upload(e, s, model_dir)
        print(f"model: {model.resource_name} version {model.version_id} (from {model_dir})", flush=True)
        target = target or _by_display_name(aiplatform.Endpoint, args.endpoint_name)
        target = target or aiplatform.Endpoint.create(display_name=args.endpoint_name, sync=True)
        previous = [m.id for m in target.list_models()]
        target.deploy(
            model=model,
            deployed_model_display_name=f"{args.model_name}-v{model.version_id}",
            machine_type=args.serving_machine_type,
            min_replica_count=args.min_replicas,
            max_replica_count=args.max_replicas,
            traffic_percentage=100,
            sync=True,
        )
        if not args.keep_previous:
            for deployed_id in previous:  # they now get no traffic but are still billed by the hour
                target.undeploy(deployed_model_id=deployed_id, sync=True)
    except exceptions.GoogleAPICallError as e:
        errors.raise_one_line(e, s)
    endpoint_id = target.resource_name.rsplit("/", 1)[-1]
    where = f"--project {s.project} --region {s.region}"
    print(
        f"endpoint: {target.resource_name} ({args.serving_machine_type}, {args.min_replicas}-{args.max_replicas} "
        f"replicas, 100% of traffic to version {model.version_id})\n"
        f"predict:  ./submit.sh predict {where} --endpoint {endpoint_id} FILE...\n"
        f"undeploy: ./submit.sh undeploy {where} --endpoint {endpoint_id} [--delete-endpoint]  "
        "(a deployed model is billed by the hour until then)",
        flush=True,
    )
    return 0


def undeploy(args, s: Settings) -> int:
    """Undeploy every model from the endpoint, and delete it with --delete-endpoint. Returns 0."""
    from google.api_core import exceptions

    vertex.init_sdk(s, dry_run=False)
    target = endpoint(s, args.endpoint)
    try:
        deployed = target.list_models()
        target.undeploy_all(sync=True)  # the SDK moves traffic off each model before it goes
        for model in deployed:
            print(f"undeployed: {model.display_name} ({model.model}, version {model.model_version_id})", flush=True)
        if args.delete_endpoint:
            target.delete(sync=True)
            print(f"deleted: {target.resource_name}", flush=True)
    except exceptions.GoogleAPICallError as e:
        errors.raise_one_line(e, s)
    if not deployed and not args.delete_endpoint:
        print(f"{target.resource_name}: no model was deployed", flush=True)
    return 0
