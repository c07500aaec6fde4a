"""The TLS front of the gs:// test world: Cloud Storage's hosts inside a network namespace, answered by
fake-gcs-server outside it.

TensorFlow's Cloud Storage client calls fixed hosts on port 443 (www.googleapis.com for the JSON API and
uploads, storage.googleapis.com for ranged reads). This front listens on 127.0.0.1:443 *inside* the
namespace, whose /etc/hosts maps those names there, and relays each request to fake-gcs-server on the
host's loopback. It smooths over three things the Go server does differently from Cloud Storage, each seen
on the wire:
- TensorFlow opens upload sessions with `Transfer-Encoding: identity`; Go's net/http answers 501.
- It uploads with `Transfer-Encoding: chunked` *and* a Content-Length; the body is de-chunked here.
- fake-gcs-server, serving plain HTTP behind the front, gives upload-session URLs an http:// scheme.
Requests are parsed by Werkzeug's server (a well-kept WSGI stack, installed with TensorBoard) and relayed
with http.client: nothing here reads HTTP by hand.

Real Cloud Storage also refuses buckets a caller may not write; the fake cannot. Writes to a bucket named
in REFUSED_BUCKETS get Cloud Storage's 403 answer.

    python gcs_front.py NETNS UPSTREAM_PORT CERT KEY
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import ssl
import sys

from werkzeug.datastructures import EnvironHeaders
from werkzeug.serving import make_server
from werkzeug.wsgi import get_input_stream

CLONE_NEWNET = 0x40000000
REFUSED_BUCKETS = ("refused-bucket",)
DROPPED = {"transfer-encoding", "connection", "expect", "keep-alive", "content-length"}
FORBIDDEN = {"error": {"code": 403, "message": "Forbidden: the caller does not have storage.objects.create access"}}


def _setns(fd: int) -> None:
    """Move this process into the network namespace open at fd (os.setns is Python 3.12+)."""
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def _https(url: str) -> str:
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


def _refused(method: str, path: str) -> bool:
    return method != "GET" and any(f"/b/{b}/" in path or path.startswith(f"/{b}/") for b in REFUSED_BUCKETS)


def relay(environ, start_response):
    """One request to fake-gcs-server, the exact path and query kept (their %2F matter), the body de-chunked."""
    method, path = environ["REQUEST_METHOD"], environ.get("RAW_URI") or environ["PATH_INFO"]
    if _refused(method, path):
        start_response("403 Forbidden", [("Content-Type", "application/json")])
        return [json.dumps(FORBIDDEN).encode()]
    body = get_input_stream(environ).read()
    headers = {k: v for k, v in EnvironHeaders(environ).items() if k.lower() not in DROPPED}
    upstream = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=60)
    try:
        upstream.request(method, path, body=body or None, headers={**headers, "Content-Length": str(len(body))})
        answer = upstream.getresponse()
        data = answer.read()
    finally:
        upstream.close()
    kept = [
        (k, _https(v) if k.lower() == "location" else v) for k, v in answer.getheaders() if k.lower() not in DROPPED
    ]
    start_response(f"{answer.status} {answer.reason}", [*kept, ("Content-Length", str(len(data)))])
    return [data]


def main(netns: str, upstream_port: str, cert: str, key: str) -> None:
    relay.port = int(upstream_port)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    home, inside = os.open("/proc/self/ns/net", os.O_RDONLY), os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    _setns(inside)
    server = make_server("127.0.0.1", 443, relay, threaded=True, ssl_context=context)  # bound inside
    _setns(home)  # the listening socket stays inside; connections to fake-gcs-server are made on the host
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
