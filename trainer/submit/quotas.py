"""A job's accelerators against the project's quota in its region, read through the Cloud Quotas API
(google-cloud-quotas), so that zero GPU quota is one line before a job is sent, not a failed job.

Vertex AI's custom training quotas are per region, one metric per GPU, and Spot VMs (and Dynamic Workload
Scheduler's flex-start) count against the separate preemptible metric:
aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus and ..._preemptible_nvidia_t4_gpus
(https://cloud.google.com/vertex-ai/docs/quotas). A quota is found by that metric and the region dimension
of its QuotaInfo (https://cloud.google.com/docs/quotas/reference/rest/v1/projects.locations.services.quotaInfos),
never by a guessed quota id; a QuotaDetails value of -1 means unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.auth.credentials import Credentials

from trainer.submit import clients
from trainer.submit.machines import Machine
from trainer.submit.settings import Settings

SERVICE = "aiplatform.googleapis.com"
# Vertex AI's name for each GPU in its quota metrics; a GPU not here (and a TPU) is not checked.
GPUS = {
    "NVIDIA_TESLA_T4": "nvidia_t4", "NVIDIA_L4": "nvidia_l4", "NVIDIA_TESLA_A100": "nvidia_a100",
    "NVIDIA_A100_80GB": "nvidia_a100_80gb", "NVIDIA_H100_80GB": "nvidia_h100", "NVIDIA_TESLA_V100": "nvidia_v100",
    "NVIDIA_TESLA_P4": "nvidia_p4", "NVIDIA_TESLA_P100": "nvidia_p100",
}  # fmt: skip


@dataclass(frozen=True)
class Need:
    """What a job asks of one quota: the metric, and how many at once in the region."""

    metric: str
    count: int


def need(machine: Machine, replicas: int, preemptible: bool, at_once: int = 1) -> Need | None:
    """The quota a job on this machine needs (accelerators x replicas x trials at once); None for a CPU-only job
    or an accelerator whose metric is not known here."""
    accelerator, count = machine.spec.get("accelerator_type"), machine.spec.get("accelerator_count", 0)
    if not accelerator or not count or accelerator not in GPUS:
        return None
    kind = ("preemptible_" if preemptible else "") + GPUS[accelerator]
    return Need(f"{SERVICE}/custom_model_training_{kind}_gpus", count * replicas * at_once)


def granted(s: Settings, credentials: Credentials, metric: str) -> int | None:
    """The quota granted for this metric in the settings' region (-1: unlimited); None if no quota has the metric.
    Raises the API's error (PermissionDenied without roles/cloudquotas.viewer)."""
    from google.cloud import cloudquotas_v1

    client = clients.make(cloudquotas_v1.CloudQuotasClient, s, credentials)
    for info in client.list_quota_infos(parent=f"projects/{s.project}/locations/global/services/{SERVICE}"):
        if info.metric != metric:
            continue
        default = None
        for dimensions in info.dimensions_infos:
            region = dimensions.dimensions.get("region")
            if region == s.region:
                return int(dimensions.details.value)
            if region is None:
                default = int(dimensions.details.value)
        if default is not None:
            return default
    return None


def console(s: Settings, metric: str) -> str:
    """Where the quota is raised: the console's quota page, filtered to the metric."""
    return f"https://console.cloud.google.com/iam-admin/quotas?project={s.project}&metric={metric}"
