"""The launcher's errors, each one line: a bad setting (SubmitError), Ctrl-C while waiting (StoppedWaiting), and
what Vertex AI's answers mean (invalid argument, permission, disabled API, quota, no capacity, not found, no
credentials). cli prints them and exits 2 (130 for Ctrl-C), with nothing sent after them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions

if TYPE_CHECKING:
    from trainer.submit.settings import Settings


class SubmitError(Exception):
    """A bad setting, reported as one line before anything is sent."""


class StoppedWaiting(Exception):
    """Ctrl-C while waiting for a job: the job goes on in the cloud (cli exits 130)."""


def _quota(message: str) -> str:
    """The quota metric Vertex AI names in a RESOURCE_EXHAUSTED answer, e.g. custom_model_training_nvidia_t4_gpus."""
    match = re.search(r"aiplatform\.googleapis\.com/([\w.-]+)", message)
    return match.group(1) if match else "the quota named above"


def explain(error: exceptions.GoogleAPICallError, s: Settings) -> str:
    """One line for an error the Vertex AI API answered with: what happened and what to do."""
    message = " ".join(str(error.message).split())
    message = re.sub(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ", "", message)  # the REST transport prefixes the request
    status = getattr(error, "grpc_status_code", None)
    status = status.name if status is not None else ""
    if isinstance(error, (exceptions.ResourceExhausted, exceptions.TooManyRequests)) or status == "RESOURCE_EXHAUSTED":
        if re.search(r"stockout|enough resources|no capacity|ZONE_RESOURCE_POOL_EXHAUSTED", message, re.I):
            return (
                f"Vertex AI has no capacity for this machine in {s.region} right now ({message}); "
                "try another --region, --spot, or later"
            )
        quota = _quota(message)
        return (
            f"quota exceeded in {s.region} for project {s.project}: {quota} ({message}); request more at "
            f"https://console.cloud.google.com/iam-admin/quotas?project={s.project} (service aiplatform.googleapis.com, "
            f"quota {quota}, region {s.region})"
        )
    if isinstance(error, (exceptions.PermissionDenied, exceptions.Forbidden)):
        if re.search(r"SERVICE_DISABLED|has not been used|is disabled", message):
            named = re.search(r"\b(\w+)\.googleapis\.com", message)  # Vertex AI's, or Cloud Logging's for logs
            service = named.group(0) if named else "aiplatform.googleapis.com"
            return (
                f"the {service} API is not enabled in project {s.project} ({message}); "
                f"run: gcloud services enable {service} --project {s.project}"
            )
        role = "roles/logging.viewer" if "logging" in message.lower() else "roles/aiplatform.user"
        return (
            f"permission denied in project {s.project} ({message}); the account submitting needs "
            f"{role}, and --service-account needs roles/iam.serviceAccountUser on it"
        )
    if isinstance(error, (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded)):
        where = s.api_endpoint or f"{s.region}-aiplatform.googleapis.com"
        return f"cannot reach Vertex AI at {where}, or it is unavailable ({message}); check the network and try again"
    if isinstance(error, exceptions.Unauthenticated):
        return f"not authenticated to Google Cloud ({message}); run: gcloud auth application-default login"
    if isinstance(error, exceptions.NotFound):
        hint = "; build and push it first: ./submit.sh build" if re.search(r"image", message, re.I) else ""
        return f"not found: {message}{hint}"
    if isinstance(error, (exceptions.InvalidArgument, exceptions.BadRequest, exceptions.FailedPrecondition)):
        return f"Vertex AI rejected the request: {message}"
    return f"Vertex AI answered {error.code} {status or type(error).__name__}: {message}"


def unreachable(error: requests.exceptions.ConnectionError | exceptions.RetryError, s: Settings) -> str:
    """One line for a request that got no answer: the host it went to, and what to check."""
    cause = error.cause if isinstance(error, exceptions.RetryError) and error.cause else error
    request = getattr(cause, "request", None)
    host = urlsplit(request.url).netloc if request is not None and request.url else None
    host = host or s.api_endpoint or f"{s.region}-aiplatform.googleapis.com"
    tried = " (retried until the deadline)" if isinstance(error, exceptions.RetryError) else ""
    return (
        f"cannot reach {host}{tried}: {type(cause).__name__}; check the network, and --api-endpoint "
        "(or STORAGE_EMULATOR_HOST for Cloud Storage) if you set one"
    )
