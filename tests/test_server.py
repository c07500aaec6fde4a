"""The serving image's server (trainer/server.py, Vertex AI's CPR model server with our predictor) as a real
process speaking HTTP: healthy once the model is loaded, the same answers as trainer.predict for the requests
`./submit.sh predict` sends an endpoint, 4xx in one line for bad requests while it keeps serving, and a clean
stop on SIGTERM. tests/test_serving_image.py runs the same checks against the image in podman."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import REPO, SAMPLE_TEST_IMAGES, one_line

from trainer import data
from trainer import server as server_module
from trainer.serving_contract import ROUTES
from trainer.submit import online
from trainer.submit.local import free_port

pytestmark = pytest.mark.long
DIGITS = 400  # more than one request of float32 b64 instances (about 350 fit in 1.5 MB)


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_healthy(url: str, running, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        assert running(), "the server exited before it was healthy"
        assert time.monotonic() < deadline, f"not healthy within {timeout} s"
        time.sleep(0.2)


def check_serving(base: str, model_dir) -> None:
    """What Vertex AI relies on, against a running server: predictions equal to the SavedModel's in-process
    ones for predict's own requests, and 4xx for bad ones with the server still serving."""
    import tensorflow as tf

    images = data.read_images(SAMPLE_TEST_IMAGES)[:DIGITS].astype(np.float32) / 255.0
    predict_url = base + ROUTES["AIP_PREDICT_ROUTE"]
    got = []
    batches = online.batches(online.instances(images))  # the requests `./submit.sh predict` sends an endpoint
    assert len(batches) > 1
    for batch in batches:
        status, answer = post(predict_url, json.dumps({"instances": batch}).encode())
        assert status == 200, answer
        got += answer["predictions"]
    expected = tf.saved_model.load(str(model_dir)).signatures["serving_default"](image=tf.constant(images))
    assert [p["digit"] for p in got] == expected["digit"].numpy().tolist()
    np.testing.assert_allclose([p["probabilities"] for p in got], expected["probabilities"].numpy(), atol=1e-6)
    # The other two forms of the same pixels get the same answers: float lists, as every client sent them before
    # b64, and uint8 b64 (pixel / 255, what the IDX file holds).
    raw = (images[:64] * 255).round().astype(np.uint8)
    for form in ([{"image": image.tolist()} for image in images[:64]],
                 [{"image": {"b64": base64.b64encode(r.tobytes()).decode()}} for r in raw]):  # fmt: skip
        status, answer = post(predict_url, json.dumps({"instances": form}).encode())
        assert status == 200 and answer["predictions"] == got[:64], answer

    one = {"image": images[0].tolist()}
    bad = {
        "not json": (b"{instances", 400),
        "no instances": (json.dumps({"inputs": [one]}).encode(), 400),
        "wrong shape": (json.dumps({"instances": [{"image": images[0][:27].tolist()}]}).encode(), 400),
        "too large": (json.dumps({"instances": [one] * 600}).encode(), 413),
    }
    for name, (body, code) in {**bad, **ABUSE}.items():
        status, answer = post(predict_url, body)
        assert status == code and "\n" not in answer["detail"], (name, status, answer)
        status, _ = post(predict_url, json.dumps({"instances": [one]}).encode())
        assert status == 200, f"not serving after {name}"
    check_abuse(base)


def _image_of(value) -> bytes:
    return b'{"instances": [{"image": [' + b",".join([b"[" + b",".join([value] * 28) + b"]"] * 28) + b"]}]}"


# Bodies that once got a 200 with NaN probabilities, or a 500: each is a one-line 400 now.
ABUSE = {
    "NaN": (_image_of(b"NaN"), 400),
    "Infinity": (_image_of(b"Infinity"), 400),
    "1e308": (_image_of(b"1e308"), 400),
    "1e400": (_image_of(b"1e400"), 400),
    "-5": (_image_of(b"-5"), 400),
    "a string": (_image_of(b'"0.5"'), 400),
    "true": (_image_of(b"true"), 400),
    "100,000 nested [": (b"[" * 100_000, 400),
}


def _status(sock: socket.socket) -> int:
    """The status code of the answer on this connection (the server may close it as it answers)."""
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0


def _connect(base: str, head: str, body: bytes = b"") -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=120)
    sock.sendall(f"POST {ROUTES['AIP_PREDICT_ROUTE']} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
    return sock


def check_abuse(base: str, stalled: int = 50) -> None:
    """Bodies that would hold the server's memory or its connections: refused on Content-Length before a byte is
    read (413), a chunked body cut at the limit (413), and stalled bodies answered 408 after BODY_SECONDS; the server
    answers its health check all along and after."""
    health = base + ROUTES["AIP_HEALTH_ROUTE"]
    with _connect(base, "Content-Type: application/json\r\nContent-Length: 400000000\r\n") as sock:
        assert _status(sock) == 413  # answered at once: the server never waits for the 400 MB
    with _connect(base, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") as sock:
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        for _ in range(40):  # 2.6 MB, past the 1.5 MB limit: read and dropped, never kept
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
        assert _status(sock) == 413
    held = [
        _connect(base, "Content-Type: application/json\r\nContent-Length: 1000\r\n", b'{"instances"')
        for _ in range(stalled)
    ]
    try:
        with urllib.request.urlopen(health, timeout=60) as answer:
            assert answer.status == 200  # while they stall
        assert [_status(sock) for sock in held] == [408] * stalled
    finally:
        for sock in held:
            sock.close()
    with urllib.request.urlopen(health, timeout=60) as answer:
        assert answer.status == 200


def test_the_server_answers_as_vertex_ai_expects_and_stops_on_sigterm_with_no_line_per_request(dense_model, tmp_path):
    """A real process: the container's entry point, its signals and its log are the subject."""
    port = free_port()
    env = {**os.environ, "AIP_HTTP_PORT": str(port), "AIP_STORAGE_URI": str(dense_model), **ROUTES}
    stdout = (tmp_path / "stdout").open("w+")
    server = subprocess.Popen([sys.executable, "-m", "trainer.server"], cwd=REPO, env=env, stderr=subprocess.PIPE,
                              stdout=stdout, text=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + ROUTES["AIP_HEALTH_ROUTE"], running=lambda: server.poll() is None)
        check_serving(base, dense_model)
        server.send_signal(signal.SIGTERM)
        # uvicorn drains, shuts down, then re-raises the signal it caught, so the status says SIGTERM.
        assert server.wait(timeout=120) in (0, -signal.SIGTERM)
        log = server.stderr.read()
        assert "Shutting down" in log and "Finished server process" in log, log[-2000:]
        stdout.seek(0)
        requests = [line for line in (log + stdout.read()).splitlines() if ' HTTP/1.1" ' in line]
        assert not requests, requests[:3]  # Cloud Logging would bill a line per request (Vertex AI logs access itself)
    finally:
        stdout.close()
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_server_without_a_model_exits_2_in_one_line_before_tensorflow_loads(tmp_path):
    """A real process: its exit status and its stderr are what the container's log shows."""
    env = {**os.environ, "AIP_HTTP_PORT": str(free_port()), "AIP_STORAGE_URI": str(tmp_path), **ROUTES}
    server = subprocess.run([sys.executable, "-X", "importtime", "-m", "trainer.server"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    imports = [line for line in server.stderr.splitlines() if line.startswith("import time:")]
    assert imports and not [line for line in imports if line.split("|")[-1].strip().startswith("tensorflow")]
    assert server.returncode == 2 and [line for line in server.stderr.splitlines() if line not in imports] == [
        f"error: AIP_STORAGE_URI {tmp_path}: no saved_model.pb there; {server_module.RUN_WROTE}"
    ]


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "AIP_STORAGE_URI is not set; "),
        ({"AIP_STORAGE_URI": "nowhere"}, "AIP_STORAGE_URI nowhere: no saved_model.pb there; "),
        ({"AIP_STORAGE_URI": "JOB"}, "AIP_STORAGE_URI JOB: a job's folder, whose export is JOB/model: pass that"),
        ({"AIP_STORAGE_URI": "MODEL", "AIP_HTTP_PORT": "http"}, "AIP_HTTP_PORT 'http': not a port number; "),
        ({"AIP_STORAGE_URI": "MODEL", "AIP_HTTP_PORT": "0"}, "AIP_HTTP_PORT '0': not a port number; "),
        ({"AIP_STORAGE_URI": "MODEL", "AIP_HTTP_PORT": "65536"}, "AIP_HTTP_PORT '65536': not a port number; "),
    ],
)
def test_settings_the_server_cannot_serve_with_are_one_line(env, message, dense_model):
    folders = {"MODEL": str(dense_model), "JOB": str(dense_model.parent)}
    env = {k: folders.get(v, v) for k, v in env.items()}
    with pytest.raises(server_module.ServerError) as refused:
        server_module.settings(env)
    assert str(refused.value).startswith(message.replace("JOB", folders["JOB"]))
    one_line(refused.value)
    assert server_module.settings({"AIP_STORAGE_URI": str(dense_model)}) == (str(dense_model), 8080)
    assert server_module.settings({"AIP_STORAGE_URI": "gs://b/model", "AIP_HTTP_PORT": "7"}) == ("gs://b/model", 7)


@pytest.mark.parametrize("model", ["corrupt", "foreign", "foreign, in a folder named with a line break"])
def test_a_model_that_does_not_load_or_is_not_ours_exits_2_in_one_line(model, tmp_path, foreign_model, monkeypatch,
                                                                        capsys):  # fmt: skip
    if model == "corrupt":
        (tmp_path / "saved_model.pb").write_bytes(b"not a SavedModel")
    folder = {"corrupt": tmp_path, "foreign": foreign_model}.get(model, tmp_path / "two\nlines")
    if model.endswith("line break"):
        folder.symlink_to(foreign_model, target_is_directory=True)
    for name in ("HANDLER_MODULE", "HANDLER_CLASS", "PREDICTOR_MODULE", "PREDICTOR_CLASS", *ROUTES):
        monkeypatch.delenv(name, raising=False)  # main() sets them; restored after the test
    monkeypatch.setenv("AIP_STORAGE_URI", str(folder))
    monkeypatch.setenv("AIP_HTTP_PORT", str(free_port()))
    assert server_module.main() == 2
    (line,) = capsys.readouterr().err.splitlines()
    expected = {
        "corrupt": f"error: AIP_STORAGE_URI {folder}: cannot load the model (Cannot parse file ",
        "foreign": f"error: AIP_STORAGE_URI {folder}: serving_default takes x float32 (None, 3) and returns y; ",
        "foreign, in a folder named with a line break": f"error: AIP_STORAGE_URI {str(folder)!r}: serving_default ",
    }[model]
    assert line.startswith(expected), line
