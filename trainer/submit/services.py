"""The Google Cloud services (APIs) this tool calls, each enabled or not in the project, read and enabled through
the Service Usage API (google-cloud-service-usage,
https://cloud.google.com/service-usage/docs/reference/rest/v1/services)."""

from __future__ import annotations

from google.auth.credentials import Credentials

from trainer.submit import clients
from trainer.submit.settings import Settings

SERVICES = {
    "aiplatform.googleapis.com": "Vertex AI",
    "artifactregistry.googleapis.com": "Artifact Registry",
    "cloudbuild.googleapis.com": "Cloud Build",
    "storage.googleapis.com": "Cloud Storage",
    "logging.googleapis.com": "Cloud Logging",
}
ENABLE_SECONDS = 600  # how long enabling may take before setup gives up


def _client(s: Settings, credentials: Credentials):
    from google.cloud import service_usage_v1

    return clients.make(service_usage_v1.ServiceUsageClient, s, credentials)


def enabled(s: Settings, credentials: Credentials) -> dict[str, bool]:
    """Each of SERVICES: whether it is enabled in the project. Raises the API's error (PermissionDenied without
    roles/serviceusage.serviceUsageViewer)."""
    names = [f"projects/{s.project}/services/{service}" for service in SERVICES]
    answer = _client(s, credentials).batch_get_services(request={"parent": f"projects/{s.project}", "names": names})
    states = {service.name.rsplit("/", 1)[-1]: service.state.name == "ENABLED" for service in answer.services}
    return {service: states.get(service, False) for service in SERVICES}


def enable(s: Settings, credentials: Credentials, services: list[str]) -> None:
    """Enable these services, waiting for the operation to end (roles/serviceusage.serviceUsageAdmin)."""
    request = {"parent": f"projects/{s.project}", "service_ids": services}
    _client(s, credentials).batch_enable_services(request=request).result(timeout=ENABLE_SECONDS)
