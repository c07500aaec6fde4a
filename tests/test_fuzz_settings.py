"""Property-based tests (Hypothesis) over the launcher's parsers of outside input and hptuning.yaml: --labels, the
settings (project, bucket, repository, image, tag, image URI, service account, TensorBoard instance), TF_CONFIG and
CLUSTER_SPEC, --timeout and --max-wait, job and endpoint IDs, the number flags, the tuning study's file, the Cloud
Storage places (deploy's --model-dir, batch-predict's --input and --output), serve --local's --model-dir. Any input
parses to a valid value or is refused in one line; never another exception. test_fuzz.py has the data readers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import urllib.parse
from pathlib import Path

import pytest
from conftest import one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import cluster, config, paths, values
from trainer.submit import batch, gcloud_config, machines, names, registry, scheduling, serving, settings, study, vertex
from trainer.submit.commands.here import local_model
from trainer.submit.commands.shared import INT32_MAX, count, folder
from trainer.submit.errors import SubmitError

pytestmark = pytest.mark.fuzz


@given(
    text=st.one_of(
        st.text(max_size=30),
        st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,4}=[a-z0-9_-]{0,4}", fullmatch=True)).map(",".join),
    )
)
@example(text="tool=other")
@example(text="0\n0")  # found by the long profile: a line break echoed into the message
@example(text=" ")  # found by a probe: taken for no labels, as if the flag were not there
def test_any_labels_flag_parses_to_valid_labels_with_the_tools_own_or_is_one_line(text):
    try:
        found = scheduling.labels(text)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith(f"--labels {values.shown(text) if not text.strip() else ''}"), e
        return
    assert text.strip(), "a blank --labels was taken for none"
    assert found[scheduling.TOOL_LABEL[0]] == scheduling.TOOL_LABEL[1] and len(found) <= 64
    assert all(scheduling.LABEL_KEY.fullmatch(k) and scheduling.LABEL_VALUE.fullmatch(v) for k, v in found.items())


@given(
    text=st.one_of(st.text(max_size=20), st.from_regex(r"\d{1,20}(\.\d{1,3})?[smhd]?", fullmatch=True)),
    zero=st.booleans(),
)
@example(text="99999999999999d", zero=False)
@example(text="1" * 400, zero=True)
@example(text="\n", zero=False)  # found by the long profile
def test_any_duration_parses_to_seconds_within_30_days_or_is_one_line(text, zero):
    try:
        value = scheduling.seconds("--timeout", text, zero=zero)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith(f"--timeout {values.shown(text)}: ")
        return
    assert (0 if zero else 1) <= value <= scheduling.LONGEST


@given(
    name=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"projects/[a-z]{1,5}/locations/[a-z0-9-]{1,8}/customJobs/\d{1,5}", fullmatch=True),
    )
)
@example(name="../../etc")
@example(name="")
def test_any_job_id_is_an_id_or_a_resource_name_or_is_one_line(name):
    try:
        names.resource("job", name, list(vertex.KINDS))
    except SubmitError as e:
        one_line(e)
        return
    assert ".." not in name and name.count("/") in (0, 5)


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


@pytest.mark.parametrize(
    "parse",
    [values.positive(float), values.positive(int), values.seed, values.fraction, count(0), count(1, 8)],
)
@given(text=st.one_of(st.text(max_size=12), st.floats().map(str), st.integers().map(str)))
@example(text="inf")
@example(text="nan")
@example(text=" -1\n")  # int() and float() take surrounding white space; the message must stay one line
@example(text="99999999999999999999")  # found by a prober: --replicas past int64, a protobuf traceback
def test_any_number_flag_is_a_finite_number_in_range_or_refused(parse, text):
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as e:
        one_line(e)
        return
    assert math.isfinite(value) and value >= 0
    if parse.__qualname__.startswith("count."):  # the launcher's counts go into the API's int32 fields
        assert value <= INT32_MAX


# ---------------------------------------------------------------- hptuning.yaml

GOOD_STUDY = (Path(__file__).resolve().parents[1] / "hptuning.yaml").read_text()


@given(
    text=st.one_of(
        st.text(max_size=60),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.builds(
            lambda at, junk: GOOD_STUDY[:at] + junk + GOOD_STUDY[at:],
            st.integers(0, len(GOOD_STUDY)),
            st.text(max_size=8),
        ),
    )
)
@example(text="studySpec: {}\ntrialJobSpec: {}\ndisplayName: 2024-01-01\n")
@example(text="studySpec: {}\ntrialJobSpec: {}\n1: x\n")
@example(text="[" * 10_000)
def test_any_hptuning_yaml_loads_as_a_tuning_job_or_is_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "hptuning.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        job = study.load_config(path)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith(str(path))
        return
    assert len(job.study_spec.metrics) == 1


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


@pytest.mark.long  # 20-45 s under HYPOTHESIS_PROFILE=long: first on a worker
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


@given(
    name=st.sampled_from(["TF_CONFIG", "CLUSTER_SPEC"]),
    text=st.one_of(
        st.text(max_size=30),
        st.recursive(
            st.none() | st.booleans() | st.integers(-2, 3) | st.text(max_size=4),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["cluster", "task", "type", "index", "worker", "chief", "workerpool0"]),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=8,
        ).map(json.dumps),
    ),
)
@example(name="TF_CONFIG", text="garbage")  # found by a prober: a traceback
@example(name="CLUSTER_SPEC", text='{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": "x"}}')
@example(name="CLUSTER_SPEC", text='{"task":{"type":[]}}')  # found by the long profile: a TypeError traceback
def test_any_cluster_variable_gives_a_role_or_one_line_naming_it(name, text):
    """TF_CONFIG and CLUSTER_SPEC (Vertex AI's), any text: a role, or ClusterError in one line (task.main: exit 2)."""
    try:
        role = cluster.task_role({name: text})
    except cluster.ClusterError as e:
        one_line(e)
        assert str(e).startswith(f"${name}: ")
        return
    assert role.num_tasks >= 1 and isinstance(role.index, int)


@given(
    flag=st.sampled_from(["--data-dir", "--job-dir", "--model-dir"]),
    text=st.one_of(
        st.text(max_size=30).map(lambda s: "gs://" + s),
        st.from_regex(r"gs://[a-z0-9._-]{1,12}(/[a-z0-9\n]{0,6})?", fullmatch=True),
    ),
)
@example(flag="--model-dir", text="gs://a\nb/model")  # found by a prober: 3 minutes of retries, then two lines
def test_any_gs_folder_given_to_the_trainer_is_taken_with_a_valid_bucket_or_refused_in_one_line(flag, text):
    """The trainer's own parser, before TensorFlow's client sees the URL."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            c = config.from_flags(["--stage", "dense", flag, text], environ={})
    except SystemExit as e:
        last = err.getvalue().strip().splitlines()[-1]
        assert e.code == 2 and last.startswith(f"python -m trainer.task: error: {flag} {values.shown(text)}: "), last
        return
    taken = getattr(c, flag[2:].replace("-", "_"))
    assert taken.isprintable() and paths.bucket_problem(taken[5:].partition("/")[0]) is None


@given(
    data_dir=st.one_of(st.text(max_size=20), st.from_regex(r"gs://[a-z0-9]{3,8}(/[a-z]{0,4})?", fullmatch=True)),
    cache_dir=st.text(max_size=20),
)
@example(data_dir="gs://bkt/mnist", cache_dir="/tmp/c")  # taken: the success path runs on every pass
@example(data_dir="/data/mnist", cache_dir="/tmp/c")  # refused: the cache would go unused
def test_any_cache_dir_is_taken_only_beside_a_gs_data_dir_or_refused_in_one_line(data_dir, cache_dir):
    """--cache-dir keeps the files of a gs:// --data-dir; beside any other it would go unused, so it is refused."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            c = config.from_flags(["--stage", "dense", "--data-dir", data_dir, "--cache-dir", cache_dir], environ={})
    except SystemExit as e:
        (line,) = err.getvalue().strip().splitlines()
        assert e.code == 2 and re.match(r"python -m trainer\.task: error: (argument )?--(data|cache)-dir", line), line
        return
    assert c.data_dir.startswith("gs://") and c.cache_dir == Path(cache_dir)


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


@given(text=st.text(max_size=140), folder=st.booleans())
@example(text='a"b', folder=False)
@example(text="..", folder=True)
@example(text="   ", folder=False)
@example(text="mnist run 1", folder=True)  # a name taken: the success path's assertions run on every pass
@example(text="x" * 129, folder=False)  # each of these is taken if its check is lost: the success path fails it
@example(text="a\\b", folder=False)
@example(text="a\tb", folder=False)
@example(text="a/b", folder=True)
def test_any_display_name_is_taken_as_vertex_ai_allows_or_refused_in_one_line(text, folder):
    try:
        names.display_name("--display-name", text, folder=folder)
    except SubmitError as e:
        one_line(e)
        only_spaces = text and not text.strip() and str(e) == "--display-name: only spaces; pass a name"
        assert str(e).startswith(f"--display-name {values.shown(text)}: ") or only_spaces, e
        return
    assert 1 <= len(text) <= 128 and text.isprintable() and '"' not in text and "\\" not in text
    assert text.strip() != "", "a name of only spaces was taken"
    assert not folder or ("/" not in text and text not in (".", ".."))


@given(text=st.one_of(st.text(max_size=20), st.from_regex(r"[a-z0-9]{1,3}-[a-z]{1,9}-[0-9]{1,3}g?", fullmatch=True)))
def test_any_serving_machine_type_is_in_the_compute_table_or_refused_in_one_line(text):
    try:
        machines.check_serving_machine("--machine-type", text)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith(f"--machine-type {values.shown(text)}: ")
        return
    assert machines.CPU_MACHINE.match(text) or text in machines.GPU_MACHINES


MACHINE_TYPES = [
    *machines.GPU_MACHINES,
    *machines.TPU_MACHINES,
    "cloud-tpu",
    "n1-standard-8",
    "n1-highmem-96",
    "e2-standard-4",
]
GPU_TYPES = [*machines.N1_GPUS, *machines.CLOUD_TPU, "NVIDIA_L4", "NVIDIA_TESLA_A100", "NVIDIA_H100_80GB"]


@given(
    machine_type=st.one_of(st.sampled_from(MACHINE_TYPES), st.text(max_size=12)),
    accelerator_type=st.one_of(st.none(), st.sampled_from(GPU_TYPES), st.text(max_size=12)),
    count=st.one_of(st.none(), st.integers(0, 16)),
)
@example(machine_type="a2-highgpu-1g", accelerator_type=None, count=3)  # was: "--accelerator-type None x 3"
@example(machine_type="", accelerator_type=None, count=3)  # was: taken for the default, n1-standard-8
@example(machine_type="a2-highgpu-1g", accelerator_type="", count=None)  # was: taken for the machine's own A100
def test_any_training_machine_is_in_the_compute_table_or_refused_naming_the_flags_as_given(
    machine_type, accelerator_type, count
):
    try:
        machine = machines.machine_spec(machine_type, accelerator_type, count)
    except SubmitError as e:
        one_line(e)
        assert str(e).startswith((f"--machine-type {values.shown(machine_type)}", "--accelerator-")), e
        assert "None" not in str(e) or "None" in machine_type + (accelerator_type or ""), e
        return
    spec = machine.spec
    assert spec["machine_type"] == machine_type and machine.accelerator in ("cpu", "gpu", "tpu")
    assert accelerator_type is None or spec.get("accelerator_type") == accelerator_type  # taken as given, or refused
    if machine.accelerator == "gpu":
        assert spec["accelerator_count"] >= 1 and spec["accelerator_type"].startswith("NVIDIA_")
    if machine.accelerator == "cpu":
        assert set(spec) == {"machine_type"}


@given(text=st.text(max_size=20))
@example(text="")
def test_any_hypertune_metric_is_a_metric_id_or_refused_in_one_line(text):
    try:
        value = values.metric_id(text)
    except argparse.ArgumentTypeError as e:
        one_line(e)
        assert str(e).endswith(f"got {values.shown(text)}"), e
        return
    assert value == text and text and text.isprintable() and not any(c.isspace() for c in text)


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
