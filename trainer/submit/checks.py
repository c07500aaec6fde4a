"""What `doctor` checks, read-only, one line each: passed, FAILED (with the fix: a command, a console URL or a
flag), could not check (the caller lacks the role that would tell; not a pass), or skipped (and why). The
checks `train`, `tune`, `deploy` and `batch-predict` cannot do without run before they send anything
(before_sending)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions
from google.auth.credentials import Credentials

from trainer.submit import buckets, clients, quotas, registry, services
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings

PASSED, FAILED, UNKNOWN, SKIPPED = "passed", "FAILED", "could not check", "skipped"
SETUP = "./submit.sh setup"


@dataclass(frozen=True)
class Check:
    state: str
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.state:<15} {self.what}: {self.detail}"


@dataclass(frozen=True)
class Job:
    """What doctor checks a job against: its images, data, quota and service account."""

    images: tuple[str, ...]  # the image kinds it runs: training or tpu, and serving
    data_dir: str
    need: quotas.Need | None
    service_account: str | None


def asked(what: str, role: str, read: Callable[[], Check]) -> Check:
    """read()'s Check, or the API's refusal as one: a disabled API is a failure that setup fixes, a missing role
    is 'could not check', naming the role that grants it."""
    try:
        return read()
    except exceptions.Forbidden as e:  # PermissionDenied, and Cloud Storage's 403
        if "has not been used" in e.message or "is disabled" in e.message or "SERVICE_DISABLED" in str(e.details):
            return Check(FAILED, what, f"its API is not enabled; fix: {SETUP}")
        return Check(UNKNOWN, what, f"PERMISSION_DENIED ({role})")
    except exceptions.GoogleAPICallError as e:
        return Check(FAILED, what, f"{e.code}: {' '.join(e.message.split())[:200]}")


def service_checks(s: Settings, credentials: Credentials) -> list[Check]:
    """Each service the tool calls, enabled or not; one line if the states cannot be read."""
    states: dict[str, bool] = {}

    def read() -> Check:
        states.update(services.enabled(s, credentials))
        return Check(PASSED, "services", "read")

    unread = asked("services", "roles/serviceusage.serviceUsageViewer", read)
    if not states:
        return [unread]
    return [Check(PASSED, f"service {name}", "enabled") if on else
            Check(FAILED, f"service {name}", f"{services.SERVICES[name]} is not enabled; fix: {SETUP} "
                                             f"(or: gcloud services enable {name} --project {s.project})")
            for name, on in states.items()]  # fmt: skip


def bucket_check(s: Settings, gcs) -> Check:
    """The bucket exists, the caller may write there, and where it is against REGION."""
    what = f"bucket {s.bucket}"

    def read() -> Check:
        bucket = gcs.lookup_bucket(buckets.split(s.bucket)[0])
        if bucket is None:
            return Check(FAILED, what, f"does not exist; fix: {SETUP} (or pass --bucket an existing one)")
        allowed = set(bucket.test_iam_permissions(buckets.WRITE))
        if not allowed.issuperset(buckets.WRITE):
            lacking = ", ".join(sorted(set(buckets.WRITE) - allowed))
            return Check(FAILED, what, f"the caller may not write there ({lacking}); fix: grant "
                                       f"roles/storage.objectAdmin on it, or pass --bucket one you own")  # fmt: skip
        where = bucket.location.lower()
        if where != s.region:
            return Check(PASSED, what, f"writable; in {where}, not {s.region}: jobs read it across regions")
        return Check(PASSED, what, f"writable, in {where}")

    return asked(what, "roles/storage.admin", read)


def data_check(s: Settings, gcs, data_dir: str) -> Check:
    """--data-dir holds the four IDX files the trainer reads."""
    what = f"data {data_dir}"
    if not data_dir.startswith("gs://"):
        return Check(SKIPPED, what, "not in Cloud Storage, so a job in the cloud cannot read it: pass --data-dir gs://")

    fix = SETUP if data_dir.rstrip("/") == f"{s.bucket}/mnist" else f"copy them there from {buckets.PUBLIC_MNIST}"

    def read() -> Check:
        try:
            missing = buckets.missing_files(gcs, data_dir)
        except exceptions.NotFound:
            return Check(FAILED, what, f"its bucket does not exist; fix: {fix}")
        if missing:
            return Check(FAILED, what, f"missing {', '.join(missing)} (raw or .gz); fix: {fix}")
        return Check(PASSED, what, "the four MNIST files")

    return asked(what, "roles/storage.objectViewer", read)


def repository_check(s: Settings, credentials: Credentials) -> Check:
    from google.cloud import artifactregistry_v1

    name = registry.repository_name(s)
    what = f"repository {s.registry}"

    def read() -> Check:
        client = clients.make(artifactregistry_v1.ArtifactRegistryClient, s, credentials)
        try:
            repository = client.get_repository(name=name)
        except exceptions.NotFound:
            return Check(FAILED, what, f"does not exist; fix: {SETUP}")
        if repository.format_.name != "DOCKER":
            return Check(FAILED, what, f"a {repository.format_.name} repository, not DOCKER; pass --repository another")
        return Check(PASSED, what, "a Docker repository")

    return asked(what, "roles/artifactregistry.reader", read)


def image_check(s: Settings, credentials: Credentials, kind: str) -> Check:
    uri = s.image_uri(kind)
    what = f"{kind} image"
    if not s.from_source(kind):
        return Check(SKIPPED, what, f"{uri} given whole: the source check is skipped")

    def read() -> Check:
        found = registry.digest(registry.client(s, credentials), uri)
        source = uri.rsplit(":", 1)[1]
        if found is None:
            build = "./submit.sh build" + (" --tpu" if kind == "tpu" else "")
            return Check(FAILED, what, f"not built from this source ({source}); fix: {build}")
        return Check(PASSED, what, f"{uri.rsplit(':', 1)[0]}@{found} ({source})")

    return asked(what, "roles/artifactregistry.reader", read)


def quota_check(s: Settings, credentials: Credentials, need: quotas.Need | None) -> Check:
    if need is None:
        return Check(SKIPPED, "quota", "the job asks for no GPU whose quota metric is known here")
    what = f"quota {need.metric.rsplit('/', 1)[1]} in {s.region}"

    def read() -> Check:
        value = quotas.granted(s, credentials, need.metric)
        if value is None:
            return Check(UNKNOWN, what, f"no quota of metric {need.metric}; see {quotas.console(s, need.metric)}")
        if 0 <= value < need.count:
            return Check(FAILED, what, f"{value} granted, the job needs {need.count}; fix: request more at "
                                       f"{quotas.console(s, need.metric)}, or pass --region one with quota")  # fmt: skip
        return Check(PASSED, what, f"{'unlimited' if value < 0 else value} granted, the job needs {need.count}")

    return asked(what, "roles/cloudquotas.viewer", read)


def run(s: Settings, credentials: Credentials, job: Job) -> list[Check]:
    """Every check after the credentials', in the order a new project needs them fixed."""
    from trainer.submit import accounts

    gcs = buckets.client(s, credentials)
    return [
        *service_checks(s, credentials),
        bucket_check(s, gcs),
        data_check(s, gcs, job.data_dir),
        repository_check(s, credentials),
        *(image_check(s, credentials, kind) for kind in job.images),
        quota_check(s, credentials, job.need),
        accounts.check(s, credentials, job.service_account),
    ]


def before_sending(s: Settings, credentials: Credentials, data_dir: str | None, need: quotas.Need | None) -> None:
    """The checks a job cannot do without, before it is sent: its gs:// data (not the trainer's default, the public
    copy, which is Google's), and its quota when the caller may read it. Raises SubmitError, one line, for the first
    that fails. (The images are pinned by registry.pinned.)"""
    checks = [quota_check(s, credentials, need)]
    if data_dir and data_dir.startswith("gs://") and data_dir != buckets.PUBLIC_MNIST:
        checks.insert(0, data_check(s, buckets.client(s, credentials), data_dir))
    for check in checks:
        if check.state == FAILED:
            raise SubmitError(f"{check.what}: {check.detail}")
