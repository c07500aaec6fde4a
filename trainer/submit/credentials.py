"""Google Cloud credentials, found and refreshed before the first request: a new user's first cloud command
without them ends in one line naming the fix, not in a traceback from deep inside the SDK.

Application Default Credentials as every Google client library finds them (google.auth.default):
GOOGLE_APPLICATION_CREDENTIALS, else gcloud's `application-default login`, else the metadata server of
a Google Cloud VM. https://cloud.google.com/docs/authentication/application-default-credentials
"""

from __future__ import annotations

import os

import google.auth
from google.auth import exceptions
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request

from trainer.submit.errors import SubmitError

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
FIX = (
    "run: gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file)"
)


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


def load() -> Credentials:
    """The credentials this command's requests carry, refreshed once now (a dry run, which sends nothing,
    needs none). Raises SubmitError when there are none or they cannot be refreshed (expired, revoked)."""
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except exceptions.DefaultCredentialsError as e:
        raise SubmitError(f"no Google Cloud credentials found ({_short(e)}); {FIX}") from None
    except (OSError, ValueError) as e:  # a key path that is a folder, unreadable, or not a key's JSON
        where = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "the credentials file")
        raise SubmitError(
            f"GOOGLE_APPLICATION_CREDENTIALS={where}: not a readable key file ({type(e).__name__}: {_short(e)}); {FIX}"
        ) from None
    try:
        credentials.refresh(Request())
    except (exceptions.RefreshError, exceptions.TransportError) as e:
        raise SubmitError(
            f"the Google Cloud credentials could not be refreshed, they may have expired or been revoked "
            f"({_short(e)}); {FIX}"
        ) from None
    return credentials
