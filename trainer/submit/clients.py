"""The Google Cloud client libraries' clients, made one way: the caller's credentials, and with an http://
--api-endpoint that endpoint over REST. gRPC needs TLS; a plain-HTTP endpoint (an emulator, or a local proxy to
a private endpoint) is reached over the REST transport, which the client libraries offer for exactly that. The
tests' fake serves Vertex AI, Cloud Logging, Artifact Registry, Service Usage, Cloud Quotas and IAM there."""

from __future__ import annotations

from typing import Any, TypeVar

from google.auth.credentials import Credentials

from trainer.submit.settings import Settings

C = TypeVar("C")


def local(s: Settings) -> bool:
    """Whether --api-endpoint is a plain-HTTP one (an emulator or a local proxy): every API is reached there."""
    return bool(s.api_endpoint and s.api_endpoint.startswith("http://"))


def make(kind: type[C], s: Settings, credentials: Credentials, endpoint: str | None = None) -> C:
    """A client of this class (e.g. artifactregistry_v1.ArtifactRegistryClient): at a plain-HTTP --api-endpoint
    over REST; else at `endpoint` (Vertex AI's regional or private one); else at the library's own default."""
    make_client: Any = kind
    if local(s):
        return make_client(credentials=credentials, transport="rest", client_options={"api_endpoint": s.api_endpoint})
    if endpoint:
        return make_client(credentials=credentials, client_options={"api_endpoint": endpoint})
    return make_client(credentials=credentials)
