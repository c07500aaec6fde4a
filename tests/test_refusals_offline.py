"""Refusals the launcher makes before it looks for credentials or calls the cloud: a dry run without the launcher's
packages, a job or endpoint ID that could never work, a local job folder that cannot hold its outputs; and the region
table those refusals check against, kept up with the installed SDK's."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CLOUD, REPO

from trainer.submit import cli

pytestmark = pytest.mark.usefixtures("clean_settings")


def test_a_dry_run_without_the_launchers_extra_says_which_install_to_run():
    """A real process: what is installed is the subject."""
    hidden = "sys.modules.update(dict.fromkeys(['yaml', 'optuna', 'google.cloud.aiplatform', 'google.cloud.aiplatform_v1', 'google.cloud.logging']))"
    argv = ["submit", "train", "--dry-run", "--project", "demo-project", "--bucket", "gs://demo-bucket"]
    run = f"import runpy, sys; {hidden}; sys.argv = {argv}; runpy.run_module('trainer.submit', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", run], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("error: ./submit.sh needs the launcher's packages, and google.cloud.aiplatform")


def test_the_region_table_lists_every_region_the_installed_sdk_knows():
    from google.cloud.aiplatform.constants.base import SUPPORTED_REGIONS

    from trainer.submit.regions import VERTEX_REGIONS

    assert SUPPORTED_REGIONS <= VERTEX_REGIONS, (
        f"add to trainer/submit/regions.py: {sorted(SUPPORTED_REGIONS - VERTEX_REGIONS)}"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["status", *CLOUD, "12\n3"], "job '12\\n3': not an ID"),
        (["logs", *CLOUD, "../x"], "job '../x': not an ID"),
        (["undeploy", *CLOUD, "--endpoint", "a b"], "--endpoint 'a b': not an ID"),
    ],
    ids=["status-line-break", "logs-path", "undeploy-endpoint-space"],
)
def test_a_bad_job_or_endpoint_id_is_named_before_credentials_are_looked_for(
    argv, message, capsys, monkeypatch, tmp_path
):
    """Was: 'no Google Cloud credentials found' on a machine without them, for an ID that could never work."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {message}"), line


@pytest.mark.parametrize("folder", ["/dev/null", "notes.txt", "notes.txt/x"])
def test_a_local_job_folder_that_cannot_hold_its_outputs_is_one_line_before_it_starts(capsys, tmp_path, folder):
    """Was: the job started, then the trainer refused $AIP_MODEL_DIR, a variable the user never set."""
    (tmp_path / "notes.txt").write_text("notes")
    path = folder if folder.startswith("/") else str(tmp_path / folder)
    assert cli.main(["local", "--output-dir", path, "--smoke"]) == 2
    out, err = capsys.readouterr()
    why = "Not a directory" if folder.endswith("/x") else "a file, not a folder"
    assert (out, err) == ("", f"error: --output-dir {path}: cannot hold the job's outputs ({why}); pass a new folder\n")
