"""The project and the region fall back to gcloud's own configuration, read as gcloud reads it: the property's
variable, else the active named configuration; flags and this tool's variables win, and a configuration gcloud
could not read is one line naming its file."""

from __future__ import annotations

import pytest
from conftest import run_in_process  # noqa: F401 - the conftest's fixtures

from trainer.submit import cli
from trainer.submit.errors import SubmitError
from trainer.submit.settings import settings

pytestmark = pytest.mark.usefixtures("clean_settings")


def _gcloud(tmp_path, active: str | None = "work", **configurations: str) -> dict[str, str]:
    """A gcloud configuration folder (active_config naming ACTIVE, one file per configuration); its environment."""
    folder = tmp_path / "gcloud"
    (folder / "configurations").mkdir(parents=True)
    if active is not None:
        (folder / "active_config").write_text(active)
    for name, text in configurations.items():
        (folder / "configurations" / f"config_{name}").write_text(text)
    return {"CLOUDSDK_CONFIG": str(folder)}


WORK = "[core]\naccount = me@example.com\nproject = gcloud-project\n\n[ai]\nregion = europe-west4\n"


def test_the_active_configurations_project_and_ai_region_are_the_defaults(tmp_path):
    environ = _gcloud(tmp_path, work=WORK, default="[core]\nproject = other-project\n")
    s = settings({}, environ, need_bucket=False)
    assert (s.project, s.region) == ("gcloud-project", "europe-west4")
    assert s.registry == "europe-west4-docker.pkg.dev/gcloud-project/mnist"


def test_without_active_config_the_default_configuration_is_read_and_the_region_stays_us_central1(tmp_path):
    environ = _gcloud(tmp_path, active=None, default="[core]\nproject = default-project\n")
    s = settings({}, environ, need_bucket=False)
    assert (s.project, s.region) == ("default-project", "us-central1")


def test_flags_then_this_tools_variables_then_gclouds_variables_then_its_file(tmp_path):
    environ = _gcloud(tmp_path, work=WORK)
    assert settings({}, {**environ, "CLOUDSDK_CORE_PROJECT": "sdk-project"}, need_bucket=False).project == "sdk-project"
    other = {**environ, "CLOUDSDK_ACTIVE_CONFIG_NAME": "none-such", "PROJECT_ID": "env-project"}
    assert settings({}, other, need_bucket=False).region == "us-central1"  # a configuration with no file sets none
    both = {**environ, "CLOUDSDK_CORE_PROJECT": "sdk-project", "PROJECT_ID": "env-project", "REGION": "asia-east1"}
    s = settings({}, both, need_bucket=False)
    assert (s.project, s.region) == ("env-project", "asia-east1")
    assert settings({"project": "flag-project"}, both, need_bucket=False).project == "flag-project"


@pytest.mark.parametrize(
    "configuration, environ, message",
    [
        ("[core]\nproject = My_Project\n", {}, "gcloud's core/project ({config}) My_Project: not a project ID"),
        ("[ai]\nregion = mars-north1\n[core]\nproject = p-123456\n", {}, "gcloud's ai/region ({config}) mars-north1: not a Vertex AI region"),
        ("[core\nproject = x\n", {}, "{config}: not a readable gcloud configuration ("),
        ("project = x\n", {}, "{config}: not a readable gcloud configuration (File contains no section headers."),
        (WORK, {"CLOUDSDK_ACTIVE_CONFIG_NAME": "../../etc/passwd"}, "CLOUDSDK_ACTIVE_CONFIG_NAME ../../etc/passwd: not a gcloud configuration name"),
        (WORK, {"CLOUDSDK_CORE_PROJECT": "12345678"}, "CLOUDSDK_CORE_PROJECT 12345678: a project number"),
    ],
    ids=["bad-project", "bad-region", "unclosed-section", "no-section", "config-name-path", "project-number"],
)  # fmt: skip
def test_a_value_or_a_file_gcloud_could_not_use_is_one_line_naming_where_it_came_from(
    tmp_path, configuration, environ, message
):
    environ = {**_gcloud(tmp_path, work=configuration), **environ}
    with pytest.raises(SubmitError) as refused:
        settings({}, environ, need_bucket=False)
    config = tmp_path / "gcloud" / "configurations" / "config_work"
    assert str(refused.value).startswith(message.format(config=config)) and "\n" not in str(refused.value), (
        refused.value
    )


def test_an_unreadable_gcloud_configuration_is_never_read_when_the_flags_say_it_all(tmp_path):
    environ = _gcloud(tmp_path, work="[core\n")
    s = settings({"project": "flag-project", "region": "us-east1"}, environ, need_bucket=False)
    assert (s.project, s.region) == ("flag-project", "us-east1")


def test_train_dry_run_sends_its_job_to_gclouds_project_and_region(tmp_path, monkeypatch, capsys):
    for name, value in _gcloud(tmp_path, work=WORK).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["train", "--bucket", "gs://demo-bucket", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"imageUri": "europe-west4-docker.pkg.dev/gcloud-project/mnist/mnist-trainer:' in out
