"""Google's OAuth 2.0 token endpoint, faked: a service account's key file whose token_uri points at the fake
Vertex server, so every request the real SDK sends carries credentials that google-auth really loaded: an
access token the fake issued for a signed JWT, or a JWT signed with the account's key (the client libraries'
self-signed JWT). The fake answers any other request with 401, and `refuse` makes the token endpoint answer
as Google does for a revoked or deleted key."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions, jwt

EMAIL = "trainer@demo-project.iam.gserviceaccount.com"  # the one service account whose key the fake issues


class FakeAuth:
    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.refuse = False
        # 1024 bits: google-auth loads the key file on every launcher command, and cryptography checks an RSA key
        # as it loads it, 35 ms at 2048 bits against 5 ms at 1024 on 2 cores; the key only has to be a real one.
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self._public = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def key_file(self, folder: Path, token_uri: str) -> Path:
        """A service account key file (the JSON `gcloud iam service-accounts keys create` writes) for token_uri."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path = folder / "service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "demo-project", "private_key_id": "k1", "private_key": pem,
            "client_email": EMAIL, "client_id": "1", "token_uri": token_uri,
        }))  # fmt: skip
        return path

    def token(self, raw: str) -> tuple[int, dict]:
        """POST /token: a JWT-bearer grant answered with an access token, or invalid_grant when refusing."""
        form = urllib.parse.parse_qs(raw)
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or "assertion" not in form:
            return 400, {"error": "unsupported_grant_type"}
        if self.refuse:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def allows(self, authorization: str | None) -> bool:
        """A token this fake issued, or a JWT signed with the service account's key."""
        token = (authorization or "").removeprefix("Bearer ")
        if token in self.tokens:
            return True
        try:
            jwt.decode(token, certs={"k1": self._public}, verify=True)
        except (ValueError, exceptions.GoogleAuthError):
            return False
        return True
