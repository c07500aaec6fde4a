"""Every error Vertex AI's API answers a submission with is one line naming the cause and the fix, exit 2,
with no job created (the serving and logging calls' errors are in test_serving.py)."""

from __future__ import annotations

import pytest
from conftest import CLOUD

from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")


QUOTA = (
    "Quota exceeded for quota metric 'aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus' "
    "with limit 'CustomModelTrainingNVIDIAT4GPUsPerProjectPerRegion' of service 'aiplatform.googleapis.com'"
)


API_ERRORS = {
    "invalid-argument": (
        400,
        "INVALID_ARGUMENT",
        "worker_pool_specs[0].machine_spec is invalid",
        "Vertex AI rejected the request: worker_pool_specs[0].machine_spec is invalid",
    ),
    "permission-denied": (
        403,
        "PERMISSION_DENIED",
        "Permission 'aiplatform.customJobs.create' denied on resource",
        "permission denied in project demo-project",
    ),
    "api-disabled": (
        403,
        "PERMISSION_DENIED",
        "Vertex AI API has not been used in project 1 before or it is disabled. SERVICE_DISABLED",
        "run: gcloud services enable aiplatform.googleapis.com --project demo-project",
    ),
    "quota": (
        429,
        "RESOURCE_EXHAUSTED",
        QUOTA,
        "quota exceeded in us-central1 for project demo-project: custom_model_training_nvidia_t4_gpus",
    ),
    "no-capacity": (
        429,
        "RESOURCE_EXHAUSTED",
        "The zone does not have enough resources available to fulfill the request",
        "Vertex AI has no capacity for this machine in us-central1 right now",
    ),
    "image-not-found": (
        404,
        "NOT_FOUND",
        "Image us-central1-docker.pkg.dev/demo-project/mnist/mnist-trainer:latest not found",
        "build and push it first: ./submit.sh build",
    ),
}


@pytest.mark.parametrize("code, status, message, expected", list(API_ERRORS.values()), ids=list(API_ERRORS))
def test_each_error_the_api_answers_is_one_line_and_exit_2(code, status, message, expected, vertex, capsys):
    vertex.fail_next(code, status, message)
    jobs_before = len(vertex.jobs)
    argv = [
        "train",
        *CLOUD,
        "--api-endpoint",
        vertex.endpoint,
        "--display-name",
        f"refused-{status}",
        "--accelerator-count",
        "0",
        "--smoke",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and expected in err[-1], err[-1]
    assert "Traceback" not in "\n".join(err) and len(vertex.jobs) == jobs_before
    if status == "RESOURCE_EXHAUSTED" and "quota" in expected:
        assert "https://console.cloud.google.com/iam-admin/quotas?project=demo-project" in err[-1]
