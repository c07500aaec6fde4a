"""The job's --service-account: that it exists, and that the caller may act as it (iam.serviceAccounts.actAs,
which roles/iam.serviceAccountUser grants), or Vertex AI refuses the job. Read through IAM's REST API with
google-api-python-client and the discovery document it ships (iam v1): google-cloud-iam's IAMClient speaks gRPC
only, which a plain-HTTP --api-endpoint cannot carry (trainer/submit/clients.py).
https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/testIamPermissions"""

from __future__ import annotations

from google.auth.credentials import Credentials

from trainer.submit import clients
from trainer.submit.checks import FAILED, PASSED, SKIPPED, UNKNOWN, Check
from trainer.submit.settings import Settings

ACT_AS = "iam.serviceAccounts.actAs"


def check(s: Settings, credentials: Credentials, email: str | None) -> Check:
    """Whether the job's service account exists and the caller may act as it; skipped without one."""
    what = f"service account {email}"
    if not email:
        return Check(SKIPPED, "service account", "none given: the job runs as Vertex AI's own service agent")
    from googleapiclient import discovery, errors

    options = {"api_endpoint": s.api_endpoint} if clients.local(s) else None
    iam = discovery.build("iam", "v1", credentials=credentials, static_discovery=True, client_options=options)
    name = f"projects/-/serviceAccounts/{email}"
    try:
        iam.projects().serviceAccounts().get(name=name).execute()
        body = {"permissions": [ACT_AS]}
        granted = iam.projects().serviceAccounts().testIamPermissions(resource=name, body=body).execute()
    except errors.HttpError as e:
        if e.status_code == 404:
            return Check(FAILED, what, f"does not exist; fix: gcloud iam service-accounts create NAME --project "
                                       f"{s.project}, or pass --service-account another")  # fmt: skip
        if e.status_code == 403:
            return Check(UNKNOWN, what, "PERMISSION_DENIED (roles/iam.serviceAccountViewer)")
        return Check(FAILED, what, f"{e.status_code}: {e.reason}")
    if ACT_AS not in granted.get("permissions", []):
        return Check(FAILED, what, f"the caller may not act as it ({ACT_AS}); fix: gcloud iam service-accounts "
                                   f"add-iam-policy-binding {email} --member=user:YOU --role=roles/iam.serviceAccountUser")  # fmt: skip
    return Check(PASSED, what, "exists, and the caller may act as it")
