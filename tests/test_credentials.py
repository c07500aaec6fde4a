"""A new user's first cloud command: no credentials, or credentials that no longer refresh, end in one line
naming `gcloud auth application-default login` before any request is sent; a launcher installed without its
extra packages says which install to run. Every other submitting test runs with a service account's key whose
token the fake Vertex server issues (fake_auth.py), and the fake refuses requests without it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CLOUD, REPO

from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")
TRAIN = ["train", *CLOUD, "--display-name", "credentials", "--stage", "dense", "--smoke"]
FIX = (
    "run: gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file)"
)


def _refused(vertex, capsys, *extra: str) -> str:
    sent = len(vertex.requests)
    assert cli.main([*TRAIN, "--api-endpoint", vertex.endpoint, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and len(vertex.requests) == sent
    return err[0]


def test_no_credentials_is_one_line_naming_the_login_and_sends_nothing(vertex, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default login either
    monkeypatch.setenv(
        "NO_GCE_CHECK", "True"
    )  # and not a Google Cloud VM: google-auth does not ask its metadata server
    line = _refused(vertex, capsys)
    assert line.startswith("error: no Google Cloud credentials found (") and line.endswith(FIX)


def test_a_key_file_that_is_gone_is_one_line_naming_it(vertex, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "deleted-key.json"))
    line = _refused(vertex, capsys)
    assert "deleted-key.json" in line and line.endswith(FIX)


def test_credentials_that_no_longer_refresh_are_one_line_before_any_request(vertex, capsys):
    vertex.auth.refuse = True  # the token endpoint answers invalid_grant, as for a revoked or deleted key
    try:
        line = _refused(vertex, capsys)
    finally:
        vertex.auth.refuse = False
    assert line.startswith("error: the Google Cloud credentials could not be refreshed, they may have expired")
    assert "invalid_grant" in line and line.endswith(FIX)


def test_a_dry_run_needs_no_credentials(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "deleted-key.json"))
    assert cli.main([*TRAIN, "--dry-run"]) == 0 and '"displayName": "credentials"' in capsys.readouterr().out


def test_the_fake_refuses_a_request_without_credentials_it_issued(vertex):
    import requests

    answer = requests.get(f"{vertex.endpoint}/v1/projects/p/locations/l/customJobs/1", timeout=30)
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_launcher_without_its_extra_packages_says_which_install_to_run():
    # --help needs none of them (the commands import what they need); a dry run of tune needs YAML.
    argv = ["submit", "tune", "--dry-run", *CLOUD]
    hide = f"import runpy, sys; sys.modules['yaml'] = None; sys.argv = {argv}; runpy.run_module('trainer.submit', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", hide], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        'error: ./submit.sh needs the launcher\'s packages, and yaml is not installed; run: pip install -e ".[submit]"'
    )


def test_help_and_local_jobs_need_none_of_the_launchers_extra_packages():
    extra = ["yaml", "optuna", "google.cloud.aiplatform", "google.cloud.logging", "google.cloud.artifactregistry",
             "docker", "dockerfile_parse"]  # fmt: skip
    hidden = f"sys.modules.update(dict.fromkeys({extra}))"
    for argv in (["submit", "--help"], ["submit", "train", "--help"], ["submit", "local", "--help"]):
        run = f"import runpy, sys; {hidden}; sys.argv = {argv}; runpy.run_module('trainer.submit', run_name='__main__')"
        result = subprocess.run([sys.executable, "-c", run], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "usage: ./submit.sh" in result.stdout, result.stderr
