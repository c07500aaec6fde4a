"""fake-gcs-server with what it lacks of Cloud Storage and `setup` and `doctor` use: a bucket's testIamPermissions
(https://cloud.google.com/storage/docs/json_api/v1/buckets/testIamPermissions), answered from `denied` (a bucket ->
the permissions the caller lacks there; none unless a test says so), and a bucket's location and iamConfiguration,
which fake-gcs-server does not keep: the front keeps them from the insert and puts them back in the bucket's GET.
Every request is otherwise relayed to fake-gcs-server as it came. Point STORAGE_EMULATOR_HOST at `url`."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

KEPT = ("location", "iamConfiguration")  # what the front keeps of a bucket for fake-gcs-server
PERMISSIONS = re.compile(r"/storage/v1/b/([^/]+)/iam/testPermissions")


class StorageFront:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.denied: dict[str, set[str]] = {}
        self.created: dict[str, dict] = {}  # a bucket's name -> its insert's body
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StorageFront:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()

    def _handler(self):
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = urlsplit(self.path).path
                if self.command == "POST" and path == "/storage/v1/b":
                    created = json.loads(body)
                    front.created[created["name"]] = created
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(self.command, front.backend + self.path, data=body, headers=headers)
                content = answer.content
                bucket = re.fullmatch(r"/storage/v1/b/([^/]+)", path) or (
                    path == "/storage/v1/b" and self.command == "POST"
                )
                if answer.ok and bucket:
                    got = json.loads(content)
                    kept = {k: v for k, v in front.created.get(got["name"], {}).items() if k in KEPT}
                    content = json.dumps({**got, **kept}).encode()
                self._send(answer.status_code, content, answer.headers.get("Content-Type", "application/json"))

            def _send(self, status: int, content: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self):
                url = urlsplit(self.path)
                match = PERMISSIONS.fullmatch(url.path)
                if not match:
                    return self._relay()
                asked = parse_qs(url.query).get("permissions", [])
                granted = [p for p in asked if p not in front.denied.get(match.group(1), set())]
                answer = {"kind": "storage#testIamPermissionsResponse", "permissions": granted}
                self._send(200, json.dumps(answer).encode())

            do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        return Handler
