"""`./submit.sh serve --local --model-dir DIR [--port P]`: the serving image (build --local --serving) run here
with podman as Vertex AI runs it on an endpoint (trainer/serving_contract.py), so that it can be curled exactly as the
endpoint will be. It prints the health and predict URLs once healthy, and on Ctrl-C or SIGTERM stops the
server (SIGTERM to it: it drains its requests), its container removed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from trainer.serving_contract import ROUTES, has_saved_model, not_an_export
from trainer.submit import container
from trainer.submit.errors import SubmitError
from trainer.values import shown

READY_SECONDS = 600  # loading TensorFlow and the model; far more than it takes


def healthy(url: str) -> bool:
    """True once the server answers its health route with 200."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server as Ctrl-C does


def check_saved_model(model_dir: Path) -> None:
    """A folder the server can load: one line (exit 2) for anything else, before podman is asked for anything."""
    if not has_saved_model(model_dir):
        raise SubmitError(f"--model-dir {shown(str(model_dir))}: {not_an_export(model_dir)}")


def serve(model_dir: Path, port: int, image: str) -> int:
    """Run the image with model_dir (checked by check_saved_model) as its AIP_STORAGE_URI until Ctrl-C or SIGTERM;
    the exit status."""
    name = f"mnist-serve-{port}"
    container.remove([name])  # left by a killed run
    env = {"AIP_HTTP_PORT": str(port), **ROUTES, "AIP_STORAGE_URI": "/model"}
    command = [container.podman(), "run", "--rm", "--name", name, "--network", "host"]
    command += ["--volume", f"{model_dir.resolve()}:/model:ro"]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    base = f"http://127.0.0.1:{port}"
    previous = signal.signal(signal.SIGTERM, _stop)
    process = subprocess.Popen([*command, image])
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not healthy(base + ROUTES["AIP_HEALTH_ROUTE"]):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SubmitError(
                    f"the server in {image} exited (status {process.poll()}) before it was healthy; see its output above"
                )
            time.sleep(0.5)
        # One write: the server's own log shares this stdout, and print()'s separate newline let a log line in between.
        sys.stdout.write(f"health: {base}{ROUTES['AIP_HEALTH_ROUTE']}\npredict: {base}{ROUTES['AIP_PREDICT_ROUTE']}\n")
        sys.stdout.flush()
        return process.wait()
    except KeyboardInterrupt:
        subprocess.run([container.podman(), "stop", "--time", "30", name], capture_output=True)
        process.wait()
        print(f"stopped: {name}", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.kill()
            process.wait()
        container.remove([name])
