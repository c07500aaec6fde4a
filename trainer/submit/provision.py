"""`setup`: the one-time set-up of a project, idempotent, one line per step: done, already there, or left as it
is and why. It never deletes, overwrites or reconfigures what exists; what it cannot take as it is (a repository
of another format, a file of another checksum) is refused in one line."""

from __future__ import annotations

from google.api_core import exceptions
from google.auth.credentials import Credentials

from trainer.submit import buckets, clients, registry, services
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings


def plan(s: Settings) -> list[str]:
    """What setup would make sure of, for --dry-run: nothing is read or called."""
    return [
        f"enable {', '.join(services.SERVICES)} in {s.project} (those not enabled)",
        f"create the Docker repository {s.registry} (if missing)",
        f"create the bucket {s.bucket} in {s.region}, uniform access, public access prevented (if missing)",
        f"copy {buckets.PUBLIC_MNIST}*.gz to {s.bucket}/mnist/, server-side (those not there)",
    ]


def say(step: str, outcome: str) -> None:
    print(f"{outcome:<15} {step}", flush=True)


def enable_services(s: Settings, credentials: Credentials) -> None:
    states = services.enabled(s, credentials)
    missing = [name for name, on in states.items() if not on]
    if missing:
        services.enable(s, credentials, missing)
    for name in states:
        say(f"service {name}", "enabled" if name in missing else "already enabled")


def create_repository(s: Settings, credentials: Credentials) -> None:
    from google.cloud import artifactregistry_v1

    client = clients.make(artifactregistry_v1.ArtifactRegistryClient, s, credentials)
    name = registry.repository_name(s)
    try:
        found = client.get_repository(name=name)
    except exceptions.NotFound:
        location, repository_id = name.split("/")[3], name.rsplit("/", 1)[1]
        repository = artifactregistry_v1.Repository(format_="DOCKER", description="./submit.sh build's images")
        client.create_repository(parent=name.rsplit("/repositories/", 1)[0], repository_id=repository_id,
                                 repository=repository).result(timeout=300)  # fmt: skip
        return say(f"repository {s.registry} (Docker, {location})", "created")
    if found.format_.name != "DOCKER":
        raise SubmitError(f"repository {s.registry}: a {found.format_.name} repository, not DOCKER; setup leaves it "
                          "as it is: pass --repository another name (or set REPOSITORY)")  # fmt: skip
    say(f"repository {s.registry}", "already there")


def create_bucket(s: Settings, credentials: Credentials) -> None:
    gcs = buckets.client(s, credentials)
    name = buckets.split(s.bucket)[0]
    found = gcs.lookup_bucket(name)
    if found is not None:
        where = found.location.lower()
        note = "" if where == s.region else f": in {where}, not {s.region}, left as it is (jobs read it across regions)"
        return say(f"bucket {s.bucket}{note}", "already there")
    bucket = gcs.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    gcs.create_bucket(bucket, project=s.project, location=s.region)
    say(f"bucket {s.bucket} ({s.region}, uniform access, public access prevented)", "created")


def copy_mnist(s: Settings, credentials: Credentials) -> None:
    for uri, outcome in buckets.mnist_copies(buckets.client(s, credentials), f"{s.bucket}/mnist"):
        say(uri, outcome)


STEPS = (enable_services, create_repository, create_bucket, copy_mnist)
