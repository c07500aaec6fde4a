"""`./submit.sh batch-predict`: digits for files of images without an endpoint, as a Vertex AI BatchPredictionJob
on the serving image and the model.

The inputs are read here first (PNG, IDX or JSON lines, as `predict` reads them, from gs://; a bad one is one
line, exit 2, nothing sent) and written as one JSON-lines file of instances beside the results, the
`instancesFormat: jsonl` Vertex AI reads. Vertex AI writes its results under OUTPUT/prediction-MODEL-TIME/
as `prediction.results-*` files of {"instance": ..., "prediction": ...} lines
(https://cloud.google.com/vertex-ai/docs/predictions/get-batch-predictions); the summary reads them back.
Cloud Storage through google-cloud-storage.
"""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path

import numpy as np
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.auth.credentials import Credentials
from google.cloud import aiplatform_v1, storage
from google.cloud.storage.retry import DEFAULT_RETRY

from trainer import data
from trainer.predict import read_inputs
from trainer.submit import names, serving, steps, vertex
from trainer.submit.errors import SubmitError
from trainer.submit.online import instances
from trainer.submit.options import BatchOptions
from trainer.submit.settings import Settings
from trainer.values import shown

INSTANCES = "instances.jsonl"
RETRY_SECONDS = 20.0  # how long Cloud Storage requests are retried before the command gives up in one line


def _split(uri: str, flag: str) -> tuple[str, str]:
    """gs://BUCKET/PATH -> (BUCKET, PATH), both checked by names.gcs_place; a trailing / (a folder) is kept."""
    bucket, path = names.gcs_place(flag, uri, need_path=False)
    return bucket, path + "/" if path and uri.endswith("/") else path


def _retry() -> Retry:
    """Cloud Storage's default retry, bounded: an unreachable service is one line after RETRY_SECONDS, not 120."""
    return DEFAULT_RETRY.with_timeout(RETRY_SECONDS)


def check_places(client: storage.Client, inputs: list[str], output: str) -> None:
    """Refuse an output inside an input or an input inside the output (the results would be read as inputs by
    the next run over that folder), and a bucket that does not exist, before anything is read or written."""
    out = output.rstrip("/") + "/"
    for uri in inputs:
        folder = uri.rstrip("/") + "/"
        if out.startswith(folder) or folder.startswith(out):
            raise SubmitError(
                f"--output {output} and --input {uri}: one holds the other, so the results would be read as inputs "
                "next time; pass an --output outside every --input"
            )
    buckets: dict[
        str, tuple[str, str]
    ] = {}  # each bucket asked about once, named by the first flag and URI that needs it
    for flag, uri in [*(("--input", uri) for uri in inputs), ("--output", output)]:
        buckets.setdefault(_split(uri, flag)[0], (flag, uri))
    for bucket, (flag, uri) in buckets.items():
        if not client.bucket(bucket).exists(retry=_retry(), timeout=RETRY_SECONDS):
            raise SubmitError(
                f"{flag} {shown(uri)}: no such bucket {shown(f'gs://{bucket}')} (or it is not this account's to see)"
            )


def read_all(client: storage.Client, uris: list[str]) -> list[tuple[str, np.ndarray]]:
    """Every image of every input: a gs:// file, or each file under a gs:// folder (ending with /)."""
    found = []
    with tempfile.TemporaryDirectory() as scratch:
        for uri in uris:
            bucket, name = _split(uri, "--input")
            folder = name.endswith("/") or not name
            blobs = list(client.list_blobs(bucket, prefix=name, retry=_retry())) if folder else []
            blobs = blobs or [client.bucket(bucket).blob(name)]
            for blob in blobs:
                local = Path(scratch) / Path(blob.name).name
                try:
                    blob.download_to_filename(local, retry=_retry())
                except exceptions.NotFound:
                    raise SubmitError(f"--input {shown(f'gs://{bucket}/{blob.name}')}: no such object") from None
                try:
                    found.append((f"gs://{bucket}/{blob.name}", read_inputs(local)))
                except data.DataError as e:
                    raise SubmitError(str(e).replace(str(local), shown(f"gs://{bucket}/{blob.name}"))) from None
    return found


def write_instances(client: storage.Client, inputs: list[tuple[str, np.ndarray]], output: str) -> str:
    """The instances of every input as JSON lines in OUTPUT/instances.jsonl; its URI."""
    bucket, prefix = _split(output.rstrip("/"), "--output")
    lines = [json.dumps(instance) for _, images in inputs for instance in instances(images)]
    name = f"{prefix}/{INSTANCES}" if prefix else INSTANCES
    client.bucket(bucket).blob(name).upload_from_string(
        "\n".join(lines) + "\n", content_type="application/jsonl", retry=_retry()
    )
    return f"gs://{bucket}/{name}"


def job(name: str, model: str, instances_uri: str, output: str, machine_type: str, replicas: int, labels: dict):
    """The BatchPredictionJob: the model's serving image on machine_type, replicas at most."""
    return aiplatform_v1.BatchPredictionJob(
        display_name=name,
        model=model,
        input_config={"instances_format": "jsonl", "gcs_source": {"uris": [instances_uri]}},
        output_config={"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": output.rstrip("/")}},
        dedicated_resources={
            "machine_spec": {"machine_type": machine_type},
            "starting_replica_count": 1,
            "max_replica_count": replicas,
        },
        labels=labels,
    )


def summary(client: storage.Client, ended: aiplatform_v1.BatchPredictionJob) -> str:
    """How many images, the digits' histogram, and where the results are."""
    folder = ended.output_info.gcs_output_directory
    bucket, prefix = _split(folder, "output")
    digits: collections.Counter[int] = collections.Counter()
    for blob in client.list_blobs(bucket, prefix=prefix + "/prediction.results-"):
        for line in blob.download_as_text().splitlines():
            digits[int(json.loads(line)["prediction"]["digit"])] += 1
    histogram = ", ".join(f"{d}: {digits[d]}" for d in range(10))
    return f"predictions: {sum(digits.values())} images in {folder}/\ndigits: {histogram}"


def run(opts: BatchOptions, s: Settings, credentials: Credentials) -> int:
    """Everything checked before anything is written (the output, the inputs, the model), then the instances
    written, the model uploaded if it is a folder, the job sent, waited for and summed up."""
    _split(opts.output, "--output")
    gcs = storage.Client(project=s.project, credentials=credentials)
    check_places(gcs, list(opts.inputs), opts.output)
    inputs = read_all(gcs, list(opts.inputs))
    serving.init_sdk(s, credentials)
    if opts.model_dir:
        serving.check_in_cloud_storage(opts.model_dir)
        image = serving.serving_image(s, opts.serving_image)
    else:
        model = serving.registered(s, str(opts.model))  # the flags take --model-dir or --model, one of them
    instances_uri = write_instances(gcs, inputs, opts.output)
    if opts.model_dir:
        model = serving.upload(opts.model_name, opts.model_dir.rstrip("/"), image, dict(opts.labels)).resource_name
    jobs = vertex.client(s, credentials)
    request = job(
        opts.display_name, model, instances_uri, opts.output, opts.machine_type, opts.replicas, dict(opts.labels)
    )
    created = vertex.create(jobs, s, request)
    print(f"job: {created.name}\ninstances: {instances_uri}", flush=True)
    ended = steps.wait(jobs, created)
    if not steps.succeeded(ended):
        return 1
    print(summary(gcs, ended), flush=True)
    return 0
