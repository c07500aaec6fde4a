"""Property-based tests (Hypothesis) over the model folders a user names, and the server's settings:
AIP_STORAGE_URI and AIP_HTTP_PORT, a model folder's name in a refusal, trainer.predict's --model-dir, and a local
model folder that resolves to the root. Each is taken, or refused in one printable line before anything is read or
replaced.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from conftest import one_line
from hypothesis import example, given
from hypothesis import strategies as st

from trainer import data, export, predict, server, serving_contract, storage, values

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> str:
    """A folder the server's settings take for a model: it holds a saved_model.pb (they read no further)."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "saved_model.pb").write_bytes(b"")
    return str(folder)


@given(
    uri=st.one_of(st.text(max_size=20), st.just("gs://b/model"), st.just("MODEL")),
    port=st.one_of(st.none(), st.text(max_size=8), st.integers(-1, 70000).map(str)),
)
@example(uri="gs://b/model", port="²")  # a digit to str.isdigit, not to int()
@example(uri="a\nb", port=None)
def test_any_server_settings_give_a_model_and_a_port_or_are_one_line(model_folder, uri, port):
    uri = model_folder if uri == "MODEL" else uri
    env = {"AIP_STORAGE_URI": uri, **({} if port is None else {"AIP_HTTP_PORT": port})}
    try:
        found, number = server.settings(env)
    except server.ServerError as e:
        one_line(e)
        return
    assert found == uri and 0 < number < 65536
    assert uri.startswith("gs://") or serving_contract.has_saved_model(Path(uri))


@pytest.fixture(scope="module")
def foreign_loaded(foreign_model):
    """The SavedModel that is not this trainer's (conftest.py), loaded once."""
    import tensorflow as tf

    return tf.saved_model.load(str(foreign_model))


@given(where=st.text(max_size=30), foreign=st.booleans())
@example(where="runs/a\nb/model", foreign=True)
@example(where="\u2028", foreign=False)
def test_any_model_folder_name_in_a_refusal_of_a_model_stays_one_printable_line(foreign_loaded, where, foreign):
    """The server and trainer.predict name the folder they loaded; its name is the user's, any text."""
    with pytest.raises(data.DataError) as refused:
        serving_contract.serving_signature(foreign_loaded if foreign else object(), where)
    one_line(refused.value)
    assert str(refused.value).isprintable(), refused.value


@given(text=st.one_of(st.text(max_size=30), st.text(max_size=30).map(lambda s: "gs://" + s)))
@example(text="")
@example(text="gs://UPPER/model")
def test_any_model_dir_given_to_predict_is_checked_or_refused_in_one_printable_line(text):
    """trainer.predict's --model-dir, any text, checked before TensorFlow loads: taken (a folder here, or gs:// with
    a bucket name Cloud Storage allows), or one printable line naming the flag."""
    try:
        predict.check_model_dir(text)
    except data.DataError as e:
        one_line(e)
        assert str(e).startswith(f"--model-dir {values.shown(text)}: ") and str(e).isprintable(), e
        return
    assert Path(text).is_dir() or (text.startswith("gs://") and values.gs_problem(text) is None)


@given(names=st.lists(st.sampled_from(["", ".", "..", "no-such-folder", "x-missing"]), max_size=8))
@example(names=[])  # /
@example(names=["", ""])  # ///
@example(names=["no-such-folder", ".."])
def test_a_local_model_folder_is_refused_as_the_root_exactly_when_it_resolves_to_it(names):
    """An export replaces its folder, and the root is the whole disk: any absolute path that resolves to it (//, /./,
    /a/.., ...) is refused before anything lists it, and no other is. The oracle is the path's own names, each ..
    taking one back (none above the root, as POSIX has it)."""
    folder = "/" + "/".join(names)
    depth = 0
    for name in names:
        depth = max(depth - 1, 0) if name == ".." else depth + (name not in ("", "."))

    def listed(where):  # a root that got through would be walked whole: fail at once instead
        assert depth, f"listed {where}"
        return []

    with mock.patch.object(storage, "list_files", listed):
        try:
            export.check_replaceable(folder)
        except storage.StorageError as e:
            assert depth == 0 and str(e).startswith("is the root folder; "), (folder, e)
            return
    assert depth, f"{folder} was taken"
