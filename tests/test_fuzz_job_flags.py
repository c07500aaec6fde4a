"""Property-based tests (Hypothesis) over the launcher's flags that shape a job or a study: --labels, --timeout and
--max-wait, job IDs, --display-name, the number flags, the machine types and accelerators against Vertex AI's compute
tables, and hptuning.yaml. Any input is taken as a valid value or refused in one line; never another exception.
"""

from __future__ import annotations

import argparse
import math

import pytest
from conftest import GOOD_STUDY, one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import values
from trainer.submit import machines, names, scheduling, study, vertex
from trainer.submit.commands.shared import INT32_MAX, count
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
    else:  # taken: then Vertex AI takes it too ("mnist run 1", an @example, takes this branch on every pass)
        assert 1 <= len(text) <= 128 and text.isprintable() and '"' not in text and "\\" not in text
        assert text.strip() != "", "a name of only spaces was taken"
        assert not folder or ("/" not in text and text not in (".", ".."))


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


# ---------------------------------------------------------------- hptuning.yaml


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
