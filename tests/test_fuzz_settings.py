"""Property-based tests (Hypothesis) over the launcher's settings and the places it reads or writes: the settings
(project, bucket, repository, image, tag, image URI, service account, API endpoint) and the image URIs they make,
--tensorboard, gcloud's configuration files, the Cloud Storage places (deploy's --model-dir, batch-predict's
--output), serve --local's --model-dir and --output-dir. Any input is taken as a valid value or refused in one line;
never another exception. test_fuzz_job_flags.py has the flags that shape a job, test_fuzz_trainer_settings.py the
trainer's own settings; test_fuzz.py, test_fuzz_data.py and test_fuzz_model_folders.py the readers of data and models.
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from pathlib import Path

import pytest
from conftest import one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import values
from trainer.submit import batch, gcloud_config, names, registry, serving, settings
from trainer.submit.commands.here import local_model
from trainer.submit.commands.shared import folder
from trainer.submit.errors import SubmitError

pytestmark = pytest.mark.fuzz


GOOD_SETTINGS = {"project": "demo-project", "bucket": "gs://demo-bucket", "repository": "mnist"}
SETTING_TEXT = {
    "project": r"[a-z][a-z0-9-]{0,31}",
    "bucket": r"gs://[a-z0-9][a-z0-9._-]{0,64}(/[a-z0-9./-]{0,9})?",
    "repository": r"[a-z][a-z0-9-]{0,64}",
    "image": r"[a-z0-9]{1,5}([._/-]{1,2}[a-z0-9]{1,5}){0,3}",
    "tag": r"[\w.-][A-Za-z0-9_.-]{0,130}",
    "image_uri": r"[a-z0-9.-]{1,12}(:[0-9]{1,4})?(/[a-z0-9_.-]{1,8}){1,3}(:[\w.-]{1,8})?(@sha256:[0-9a-f]{64})?",
    "service_account": r"[a-z0-9._-]{1,8}@[a-z0-9.-]{1,12}(\.iam\.gserviceaccount\.com)?",
    "api_endpoint": r"(http://)?(\[[0-9a-f:]{0,6}\]?|[a-z0-9.-]{0,12})(:[0-9]{0,6})?(/[a-z]{0,3})?",
}


@pytest.mark.long  # among the slowest under HYPOTHESIS_PROFILE=long (6-13 s): first on a worker
@given(data=st.data(), name=st.sampled_from(sorted(SETTING_TEXT)))
@example(data=None, name="bucket")  # replaced below by the line break a prober found
def test_any_setting_is_taken_into_valid_image_uris_or_refused_naming_its_flag_in_one_line(data, name):
    """--project, --bucket, --repository, --image, --tag, --image-uri, --service-account, --api-endpoint: any text. Taken, every image
    URI the settings make is a valid reference and the source's own are Artifact Registry tags; else one line."""
    text = (
        "gs://b\nc"
        if data is None
        else data.draw(st.one_of(st.text(max_size=40), st.from_regex(SETTING_TEXT[name], fullmatch=True)))
    )
    flags = {**GOOD_SETTINGS, name: text}
    try:
        s = settings.settings(flags, {}, need_bucket=True)
    except SubmitError as e:
        one_line(e)
        flag = f"--{name.replace('_', '-')}"
        assert str(e).startswith(f"{flag} {values.shown(text)}: "), e
        return
    for kind in ("training", "tpu", "serving"):
        uri = s.image_uri(kind)
        assert names.REFERENCE.fullmatch(uri) and uri.isprintable(), uri
        if s.from_source(kind) or kind not in s.given:
            registry.tag_name(uri)  # raises on a URI Artifact Registry cannot name
    assert s.bucket.isprintable() and (not text or name != "bucket" or s.bucket.startswith("gs://"))
    if name == "api_endpoint" and text:  # a host the clients can parse, a port in range, nothing after it
        split = urllib.parse.urlsplit(text if text.startswith("http://") else f"//{text}")
        assert split.hostname and (split.port is None or 0 < split.port < 65536) and not split.path.strip("/")


TENSORBOARD = r"projects/[a-z0-9-]{1,8}/locations/(us-central1|europe-west4|[a-z0-9-]{1,12})/tensorboards/[0-9]{1,6}"


@given(text=st.one_of(st.text(max_size=60), st.from_regex(TENSORBOARD, fullmatch=True)))
@example(text="projects/p/locations/europe-west4/tensorboards/1")  # an instance of another region
@example(text="projects/p/locations/us-central1/tensorboards/1")  # taken: the success path runs on every pass
def test_any_tensorboard_is_an_instance_in_the_jobs_region_or_refused_in_one_line(text):
    """--tensorboard: any text. Taken, it is an instance's resource name in the job's region (us-central1 here),
    as Vertex AI TensorBoard requires; else one line naming the flag and the value."""
    account = "trainer@demo-project.iam.gserviceaccount.com"
    flags = {**GOOD_SETTINGS, "tensorboard": text, "service_account": account}
    try:
        s = settings.settings(flags, {}, need_bucket=True)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith(f"--tensorboard {values.shown(text)}: "), e
        return
    project, region, instance = re.fullmatch(r"projects/(.+)/locations/(.+)/tensorboards/(.+)", text).groups()
    assert s.tensorboard == text and s.region == region == "us-central1"
    assert project.isprintable() and "/" not in project and instance.isdigit()


INI = st.lists(
    st.one_of(
        st.sampled_from(
            ["[core]", "[ai]", "[compute]", "[core", "project = p-12345", "region = europe-west4", "%(x)s"]
        ),
        st.text(max_size=20),
    ),
    max_size=6,
).map("\n".join)


@given(configuration=st.one_of(INI, st.binary(max_size=40)), active=st.one_of(st.none(), st.text(max_size=12)))
@example(configuration=b"\xff\xfe", active=None)
@example(configuration="[core\nproject = p-12345", active="work")
def test_any_gcloud_configuration_gives_a_setting_or_one_line_naming_it(tmp_path_factory, configuration, active):
    """gcloud's files, any content: the project and the region are read (the values then checked by settings like
    any other), or the error is one line naming the file or the configuration's name."""
    folder = tmp_path_factory.mktemp("gcloud")
    name = "work" if active == "work" else "default"
    (folder / "configurations").mkdir()
    path = folder / "configurations" / f"config_{name}"
    path.write_bytes(configuration if isinstance(configuration, bytes) else configuration.encode())
    if active is not None:
        (folder / "active_config").write_text(active)
    for setting in ("project", "region"):
        try:
            found = gcloud_config.setting(setting, {"CLOUDSDK_CONFIG": str(folder)})
        except SubmitError as e:
            one_line(e)
            assert str(e).startswith((str(path), str(folder / "active_config"))), e
            continue
        assert found is None or (found[0] and found[0] == found[0].strip() and str(path) in found[1])


@given(text=st.one_of(st.text(max_size=30), st.text(max_size=20).map(lambda s: "gs://" + s)))
@example(text="gs://b/a\nb")
@example(text="gs://a\nb/model")
def test_any_cloud_storage_place_is_taken_as_given_or_named_quoted_in_one_line(text):
    """deploy's --model-dir and batch-predict's --output: a user's text, any text."""
    for flag, check in [
        ("--model-dir", serving.check_in_cloud_storage),
        ("--output", lambda t: batch._split(t, "--output")),
    ]:
        try:
            found = check(text)
        except SubmitError as e:
            one_line(e)
            assert str(e).startswith(f"{flag} {values.shown(text)}: ") and str(e).isprintable(), e
            continue
        assert text.startswith("gs://") and (found is None or text.startswith(f"gs://{found[0]}"))


@given(text=st.one_of(st.text(max_size=20), st.text(max_size=20).map(lambda s: "gs://" + s)))
@example(text="")
@example(text="\t")
@example(text="gs://demo-bucket/model")
def test_any_model_dir_given_to_serve_local_is_a_folder_here_or_refused_in_one_line(text):
    """serve --local's --model-dir is required, so a blank one has no default to fall back on, and podman mounts
    only a folder on this machine: a gs:// one is refused with the copy command that brings it here."""
    try:
        taken = local_model(text)
    except argparse.ArgumentTypeError as e:
        one_line(e)
        assert str(e).startswith(values.shown(text)), e
        assert not text.strip() or (text.startswith("gs://") and "gcloud storage cp -r" in str(e)), e
        return
    assert text.strip() and not text.startswith("gs://") and taken == Path(text)


@given(text=st.text(max_size=20))
@example(text="")
@example(text=" \n")
def test_any_output_dir_flag_is_the_folder_given_or_refused_in_one_line(text):
    """--output-dir of local and tune --local: an empty one would be the current folder (Path('') is '.')."""
    try:
        taken = folder(text)
    except argparse.ArgumentTypeError as e:
        one_line(e)
        assert not text.strip() and str(e).startswith(f"{values.shown(text)} is not a folder"), e
        return
    assert text.strip() and taken == Path(text)
