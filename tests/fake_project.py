"""A local fake of what a Google Cloud project holds besides Vertex AI's own resources, the part `setup`, `doctor`
and the checks before a job read or change: which services are enabled (Service Usage v1), the Artifact Registry
repositories (v1), the quotas (Cloud Quotas v1) and the service accounts with who may act as them (IAM v1).

Each answer is written from, and each request body parsed into, the client library's own types (service_usage_v1,
artifactregistry_v1, cloudquotas_v1, iam_admin_v1, google.iam.v1), unknown fields being errors. A project named
in new_project() starts as a new one: nothing enabled, no repository, no service account, zero quota; any other
project is ready (everything enabled, quota for every accelerator), as the shared fake's demo-project is.
refuse() makes one API answer PERMISSION_DENIED for a project, as it does for a caller without the role."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

import fake_operations as op
from fake_auth import EMAIL
from google.api_core import exceptions as api_exceptions
from google.cloud import artifactregistry_v1, cloudquotas_v1, iam_admin_v1, service_usage_v1
from google.iam.v1 import iam_policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import json_format

READY_QUOTA = 16  # what a ready project is granted of each accelerator, in each region
QUOTAS = "aiplatform.googleapis.com"
GPU_METRICS = [f"{QUOTAS}/custom_model_training_{spot}nvidia_{gpu}_gpus" for spot in ("", "preemptible_")
               for gpu in ("t4", "l4", "a100", "a100_80gb", "h100", "v100", "p4", "p100")]  # fmt: skip


@dataclass
class Project:
    services: set[str] = field(default_factory=set)  # the enabled ones
    repositories: dict[str, artifactregistry_v1.Repository] = field(default_factory=dict)  # by resource name
    quotas: dict[tuple[str, str], int] = field(default_factory=dict)  # (metric, region) -> granted
    accounts: dict[str, set[str]] = field(default_factory=dict)  # a service account's email -> who may actAs it
    refused: set[str] = field(default_factory=set)  # the APIs (serviceusage, artifactregistry, ...) refused
    ready: bool = False


class FakeProject:
    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.lock = threading.Lock()

    def new_project(self, project: str) -> Project:
        """A new project's state: nothing enabled, nothing created, zero quota. Change it to grant or enable."""
        with self.lock:
            self.projects[project] = Project()
            return self.projects[project]

    def _project(self, project: str) -> Project:
        return self.projects.get(project) or Project(ready=True)

    def grant(self, project: str, metric: str, region: str, value: int) -> None:
        with self.lock:
            self.projects[project].quotas[(metric, region)] = value

    # ------------------------------------------------------------ routing

    ROUTES = [
        ("GET", r"/v1/projects/([^/]+)/services:batchGet", "serviceusage", "_services"),
        ("POST", r"/v1/projects/([^/]+)/services:batchEnable", "serviceusage", "_enable"),
        ("GET", r"/v1/projects/([^/]+)/locations/([^/]+)/repositories/([^/]+)", "artifactregistry", "_repository"),
        ("POST", r"/v1/projects/([^/]+)/locations/([^/]+)/repositories", "artifactregistry", "_create_repository"),
        ("GET", r"/v1/projects/([^/]+)/locations/global/services/([^/]+)/quotaInfos", "cloudquotas", "_quota_infos"),
        ("GET", r"/v1/projects/-/serviceAccounts/([^/:]+)", "iam", "_account"),
        ("POST", r"/v1/projects/-/serviceAccounts/([^/:]+):testIamPermissions", "iam", "_test_permissions"),
    ]  # fmt: skip

    def route(self, method: str, url: str):
        """What answers this request (raw body -> (HTTP status, JSON)); None if it is not one of these APIs'.
        The caller is the one service account whose key the fake issues (fake_auth.EMAIL)."""
        path, _, query = url.partition("?")
        for verb, pattern, api, handler in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                args = [unquote(g) for g in match.groups()]

                def answer(raw: str, args=args, api=api, handler=handler) -> tuple[int, str]:
                    project = args[0] if api != "iam" else args[0].split("@")[1].split(".")[0]
                    with self.lock:
                        if api in self._project(project).refused:
                            return 403, _error(403, "PERMISSION_DENIED", f"Permission denied on {api} for {project}")
                        try:
                            return 200, getattr(self, handler)(*args, raw=raw, query=parse_qs(query), caller=EMAIL)
                        except op.Refused as e:
                            return op.error_answer(*e.args)
                        except api_exceptions.GoogleAPICallError as e:
                            return e.code, _error(e.code, e.grpc_status_code.name, e.message)

                return answer
        return None

    # ------------------------------------------------------------ Service Usage

    def _services(self, project: str, *, raw, query, caller) -> str:
        p = self._project(project)
        services = []
        for name in query.get("names", []):
            service_id = name.rsplit("/", 1)[-1]
            state = "ENABLED" if p.ready or service_id in p.services else "DISABLED"
            services.append(service_usage_v1.Service(name=name, parent=f"projects/{project}", state=state))
        return op.to_json(service_usage_v1.BatchGetServicesResponse(services=services))

    def _enable(self, project: str, *, raw, query, caller) -> str:
        request = op.parse(service_usage_v1.BatchEnableServicesRequest, raw)
        if not request.service_ids:
            raise op.Refused(op.INVALID_ARGUMENT, "service_ids is required")
        self._project(project).services.update(request.service_ids)
        enabled = [service_usage_v1.Service(name=f"projects/{project}/services/{s}", state="ENABLED")
                   for s in request.service_ids]  # fmt: skip
        return _done(service_usage_v1.BatchEnableServicesResponse(services=enabled), f"operations/enable-{project}")

    # ------------------------------------------------------------ Artifact Registry

    def _repository(self, project: str, location: str, repository: str, *, raw, query, caller) -> str:
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        p = self._project(project)
        if p.ready and name not in p.repositories:
            p.repositories[name] = artifactregistry_v1.Repository(name=name, format_="DOCKER")
        if name not in p.repositories:
            raise api_exceptions.NotFound(f"Requested entity was not found: {name}")
        return op.to_json(p.repositories[name])

    def _create_repository(self, project: str, location: str, *, raw, query, caller) -> str:
        repository = op.parse(artifactregistry_v1.Repository, raw)
        (repository_id,) = query.get("repositoryId", [""])
        name = f"projects/{project}/locations/{location}/repositories/{repository_id}"
        p = self._project(project)
        if "artifactregistry.googleapis.com" not in p.services and not p.ready:
            raise api_exceptions.PermissionDenied("Artifact Registry API has not been used in this project")
        if name in p.repositories:
            raise api_exceptions.AlreadyExists(f"the repository already exists: {name}")
        if not repository_id or repository.format_ == artifactregistry_v1.Repository.Format.FORMAT_UNSPECIFIED:
            raise op.Refused(op.INVALID_ARGUMENT, "a repository id and a format are required")
        repository.name = name
        p.repositories[name] = repository
        return _done(repository, f"projects/{project}/locations/{location}/operations/repo-{repository_id}")

    # ------------------------------------------------------------ Cloud Quotas

    def _quota_infos(self, project: str, service: str, *, raw, query, caller) -> str:
        p = self._project(project)
        infos = []
        for metric in GPU_METRICS if service == QUOTAS else []:
            regions = {region: value for (m, region), value in p.quotas.items() if m == metric}
            dimensions = [
                cloudquotas_v1.DimensionsInfo(dimensions={"region": r}, details={"value": v}, applicable_locations=[r])
                for r, v in sorted(regions.items())
            ]
            default = READY_QUOTA if p.ready else 0
            dimensions.append(cloudquotas_v1.DimensionsInfo(details={"value": default}))  # every other region
            quota_id = "CustomModelTraining" + metric.rsplit("/", 1)[1].title().replace("_", "") + "PerProjectPerRegion"
            infos.append(cloudquotas_v1.QuotaInfo(
                name=f"projects/{project}/locations/global/services/{service}/quotaInfos/{quota_id}",
                quota_id=quota_id, metric=metric, service=service, dimensions=["region"],
                container_type="PROJECT", dimensions_infos=dimensions,
            ))  # fmt: skip
        return op.to_json(cloudquotas_v1.ListQuotaInfosResponse(quota_infos=infos))

    # ------------------------------------------------------------ IAM

    def add_account(self, email: str, *, users: set[str]) -> None:
        """A service account, and the callers (emails) who may act as it (roles/iam.serviceAccountUser)."""
        with self.lock:
            self.projects.setdefault(email.split("@")[1].split(".")[0], Project(ready=True)).accounts[email] = users

    def _accounts(self, email: str) -> set[str]:
        p = self._project(email.split("@")[1].split(".")[0])
        if email not in p.accounts:
            raise api_exceptions.NotFound(f"Unknown service account {email}")
        return p.accounts[email]

    def _account(self, email: str, *, raw, query, caller) -> str:
        self._accounts(email)
        project = email.split("@")[1].split(".")[0]
        account = iam_admin_v1.ServiceAccount(name=f"projects/{project}/serviceAccounts/{email}", email=email,
                                              project_id=project, unique_id="1")  # fmt: skip
        return op.to_json(account)

    def _test_permissions(self, email: str, *, raw, query, caller) -> str:
        request = iam_policy_pb2.TestIamPermissionsRequest()
        json_format.Parse(raw, request, ignore_unknown_fields=False)
        allowed = caller in self._accounts(email)
        granted = [p for p in request.permissions if allowed and p == "iam.serviceAccounts.actAs"]
        return json_format.MessageToJson(iam_policy_pb2.TestIamPermissionsResponse(permissions=granted))


def _done(response, name: str) -> str:
    """A long-running operation that is already done, with its response."""
    operation = operations_pb2.Operation(name=name, done=True)
    operation.response.Pack(type(response).pb(response))
    return json_format.MessageToJson(operation)


def _error(code: int, status: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "status": status, "message": message}})
