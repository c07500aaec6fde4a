"""The training image on this machine, with podman: `./submit.sh build --local [--tpu]` builds it, and
`local --container` / `tune --local --container` run each replica in it as Vertex AI would.

Where no registry is reachable, python:3.11-slim-bookworm (the base Vertex AI's image is built on) cannot
be pulled, so build --local builds the same Dockerfile on a stand-in base made here once with debootstrap:
Debian bookworm's own Python 3.11, set up as python:3.11-slim is (python and pip on the PATH, pip free to
install). It is kept as a podman image. The GPU image is built with plain TensorFlow instead of
tensorflow[and-cuda]: the CUDA wheels are gigabytes that a machine without a GPU never loads. Both are
build arguments; the Cloud Build image (./submit.sh build) keeps the Dockerfile's defaults.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from trainer.submit import source
from trainer.submit.errors import SubmitError

REPO = Path(__file__).resolve().parents[2]
STAND_IN = "localhost/mnist-stand-in-base:bookworm"
# Each local image by kind, tagged by its source (src-<12 hex>) and :local, the newest build.
IMAGES = {
    "training": "localhost/mnist-trainer",
    "tpu": "localhost/mnist-trainer-tpu",
    "serving": "localhost/mnist-serving",
}
CPU_TENSORFLOW = "tensorflow==2.20.0"  # the GPU image's TensorFlow, without its CUDA extra
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the host's, so pip inside trusts what the host trusts
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"


def podman() -> str:
    """The podman command; one line (exit 2) that says how to install it when it is missing."""
    found = shutil.which("podman")
    if not found:
        raise SubmitError(
            "podman not found: install it with `apt-get install -y podman runc` (Debian, Ubuntu) or see "
            "https://podman.io/docs/installation; docs/vertex.md's 'Test the image locally' has the one-time setup"
        )
    return found


def _image_exists(image: str) -> bool:
    return subprocess.run([podman(), "image", "exists", image]).returncode == 0


def stand_in_base() -> str:
    """The stand-in base image, made with debootstrap on first use (about a minute) and kept. Two builds started
    at once (CI's second step builds the training and serving images side by side) make it once: the second
    waits on a lock file for the first (one per user, as podman's image store is)."""
    with open(Path(tempfile.gettempdir()) / f"mnist-stand-in-base-{os.getuid()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _image_exists(STAND_IN):
            return STAND_IN
        return _make_stand_in_base()


def _make_stand_in_base() -> str:
    if not shutil.which("debootstrap"):
        raise SubmitError("debootstrap not found: install it with `apt-get install -y debootstrap` (needed once)")
    print(f"making the stand-in base {STAND_IN} with debootstrap (once)", flush=True)
    with tempfile.TemporaryDirectory() as root:
        made = subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", root])
        if made.returncode != 0:
            raise SubmitError(f"debootstrap failed (exit {made.returncode}, see above); the stand-in base was not made")
        # As python:3.11-slim: `python` and `pip` on the PATH, and pip allowed to install (PEP 668's marker off).
        (Path(root) / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        (Path(root) / "usr/local/bin/pip").symlink_to("/usr/bin/pip3")
        (Path(root) / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
        shutil.rmtree(Path(root) / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [podman(), "import", "--change", f"ENV PIP_CERT={CA_BUNDLE}", "-", STAND_IN], stdin=tar.stdout
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise SubmitError("podman import failed (see above); the stand-in base was not made")
    return STAND_IN


def _kind(tpu: bool, serving: bool) -> str:
    return "serving" if serving else "tpu" if tpu else "training"


def build_local(tpu: bool, dry_run: bool = False, serving: bool = False, force: bool = False) -> int:
    """`./submit.sh build --local [--tpu | --serving] [--force]`: the training (or TPU, or serving) image built here,
    on the stand-in base, tagged by its source; nothing when that tag is here already, unless force. The build's exit
    status. dry_run: print the build command, make and build nothing."""
    kind = _kind(tpu, serving)
    image = f"{IMAGES[kind]}:{source.tag(source.DOCKERFILES[kind])}"
    if not dry_run and not force and _image_exists(image):
        print(f"already built from this source: {image}; nothing to build (--force builds anyway)", flush=True)
        _remove_older_builds(kind, image)
        return 0
    command = [podman(), "build", "--network", "host", "--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    command += ["--build-arg", f"BASE={STAND_IN if dry_run else stand_in_base()}"]
    if kind == "training":
        command += ["--build-arg", f"TENSORFLOW={CPU_TENSORFLOW}"]
    command += ["--file", str(REPO / source.DOCKERFILES[kind]), "--tag", image, "--tag", f"{IMAGES[kind]}:local"]
    print(" ".join([*command, str(REPO)]), flush=True)
    if dry_run:
        return 0
    status = subprocess.call([*command, str(REPO)])
    if status == 0:
        _remove_older_builds(kind, image)
    return status


def _remove_older_builds(kind: str, keep: str) -> None:
    """Untag this kind's images built from other sources (src-* tags): image_for() runs only this source's, so they
    are gigabytes nothing here can use again. podman frees the layers no tag holds any more; one still used by a
    container is left (podman refuses, and says nothing is lost)."""
    listing = subprocess.run(
        [podman(), "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGES[kind]], capture_output=True, text=True
    )
    older = [n for n in listing.stdout.split() if n.rpartition(":")[2].startswith("src-") and n != keep]
    removed = [n for n in older if subprocess.run([podman(), "rmi", n], capture_output=True).returncode == 0]
    if removed:
        print(f"removed older builds of this image: {', '.join(removed)}", flush=True)


def image_for(tpu: bool = False, serving: bool = False) -> str:
    """The local image built from this source that a job runs in (the TPU one for a job with --accelerator tpu), or
    the serving image; one line (SubmitError) if it is not built."""
    kind = _kind(tpu, serving)
    tag = source.tag(source.DOCKERFILES[kind])
    if not _image_exists(f"{IMAGES[kind]}:{tag}"):
        flag = {"training": "", "tpu": " --tpu", "serving": " --serving"}[kind]
        raise SubmitError(
            f"the {kind} image for this source ({tag}) is not built here: ./submit.sh build --local{flag}"
        )
    return f"{IMAGES[kind]}:{tag}"


def _mounts(output_dir: Path, args: list[str]) -> tuple[list[str], list[str]]:
    """Volumes: the output folder read-write, and each existing local path among the args (a --data-dir,
    written with a /) read-only, all at their absolute host paths; and the args with those paths absolute."""
    volumes, absolute = [f"{output_dir.resolve()}:{output_dir.resolve()}"], []
    for arg in args:
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if "/" in value and not value.startswith("gs://") and os.path.exists(value):  # False if too long
            host = Path(value).resolve()
            volumes.append(f"{host}:{host}:ro")
            arg = f"{flag}{eq}{host}"
        absolute.append(arg)
    return volumes, absolute


def replica_command(image: str, name: str, env: dict[str, str], output_dir: Path, args: list[str]) -> list[str]:
    """`podman run` of one replica: the image's entry point with the job's args, the Vertex environment,
    the output folder at the same path, on the host network (the replicas find each other as on Vertex)."""
    output_dir.mkdir(parents=True, exist_ok=True)  # podman mounts only what exists
    volumes, args = _mounts(output_dir, args)
    command = [podman(), "run", "--rm", "--name", name, "--network", "host"]
    for volume in volumes:
        command += ["--volume", volume]
    # This machine is no Cloud TPU VM: without this, libtpu (in the TPU image) spends minutes on import
    # asking a metadata server for TPU settings. Vertex AI's TPU VMs answer it; nothing here does.
    for key, value in {**env, "TPU_SKIP_MDS_QUERY": "1"}.items():
        command += ["--env", f"{key}={value}"]
    return [*command, image, *args]


def remove(names: list[str]) -> None:
    """Remove these containers if they are still there (a killed `podman run` leaves its container running)."""
    if names:
        subprocess.run([podman(), "rm", "--force", "--ignore", *names], capture_output=True)
