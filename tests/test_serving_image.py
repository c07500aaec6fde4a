"""The serving image (Dockerfile.serving) built with podman and run by `./submit.sh serve --local` exactly as
Vertex AI runs it on an endpoint: healthy once loaded, predict's own requests answered as trainer.predict
answers them, 4xx for bad requests while it keeps serving, stopped and removed on SIGTERM. In CI's second
step (`-m container`)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from conftest import REPO
from test_server import check_serving

from trainer.submit import cli, container
from trainer.submit.local import free_port

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def serving_image():
    assert cli.main(["build", "--local", "--serving"]) == 0
    return container.image_for(serving=True)


def test_the_serving_image_has_the_training_tensorflow_and_the_servers_entry_point(serving_image):
    inspect = subprocess.run(["podman", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", serving_image],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(inspect.stdout) == ["python", "-m", "trainer.server"]
    version = subprocess.run(
        ["podman", "run", "--rm", "--entrypoint", "python", serving_image, "-c", "import tensorflow; print(tensorflow.__version__)"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert version.stdout.strip() == "2.20.0"


def test_serve_local_answers_as_an_endpoint_and_stops_on_sigterm(serving_image, dense_model):
    port = free_port()
    serve = subprocess.Popen(["./submit.sh", "serve", "--local", "--model-dir", str(dense_model), "--port", str(port)],
                             cwd=REPO, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = []
        for line in serve.stdout:  # until it says where it listens: it has been healthy by then
            lines.append(line.strip())
            if line.startswith("predict: "):
                break
        assert lines[-2:] == [
            f"health: http://127.0.0.1:{port}/v1/endpoints/local/deployedModels/local",
            f"predict: http://127.0.0.1:{port}/v1/endpoints/local/deployedModels/local:predict",
        ], lines
        check_serving(f"http://127.0.0.1:{port}", dense_model)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=120) == 0 and f"stopped: mnist-serve-{port}" in serve.stdout.read()
        exists = subprocess.run(["podman", "container", "exists", f"mnist-serve-{port}"])
        assert exists.returncode == 1  # removed
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        container.remove([f"mnist-serve-{port}"])
