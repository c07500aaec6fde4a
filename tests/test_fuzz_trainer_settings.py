"""Property-based tests (Hypothesis) over what the trainer reads before TensorFlow sees it: TF_CONFIG and
CLUSTER_SPEC (Vertex AI's), the gs:// folders given as --data-dir, --job-dir and --model-dir, --cache-dir beside
--data-dir, and --hypertune-metric. Any input is taken or refused in one line (exit 2); never another exception.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from conftest import one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import cluster, config, paths, values

pytestmark = pytest.mark.fuzz


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
