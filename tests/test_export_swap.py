"""The export replaced whole (trainer/export.py): a second run replaces its own, a reader polling during the swap
never sees half of one, locally (one rename) or on Cloud Storage's copy-over, and a kill before the marker's rename
or in the middle of the copy leaves a folder the next export still knows as its own and replaces."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import SAMPLE_DIR, TINY

from trainer import export, storage, task


def _marker(model_dir) -> dict:
    return json.loads((model_dir / export.MARKER).read_text())


def test_a_second_run_replaces_its_own_export_and_leaves_nothing_beside_it(tmp_path):
    argv = ["--stage", "softmax", "--data-dir", str(SAMPLE_DIR), "--no-plots", *TINY, "--job-dir", str(tmp_path)]
    assert task.main(argv) == 0
    first = _marker(tmp_path / "model")
    assert first["stage"] == "softmax" and "saved_model.pb" in first["files"] and "model.keras" in first["files"]
    assert sorted(storage.list_files(str(tmp_path / "model"))) == sorted([*first["files"], export.MARKER])
    time.sleep(1.1)  # the marker's time has one-second resolution
    assert task.main(argv) == 0
    second = _marker(tmp_path / "model")
    assert second["written"] > first["written"] and second["files"] == first["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "logs", "metrics.json", "model"]


def _staged(root, generation: str, names: list[str]):
    """A fake export: every file holds its generation's name; the marker lists them."""
    folder = root / generation
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(generation)
    (folder / export.MARKER).write_text(json.dumps({"stage": generation, "files": names}))
    return folder


@pytest.mark.parametrize("atomic", [True, False], ids=["local-exchange", "copy-over-as-on-gcs"])
def test_a_reader_polling_during_the_swap_always_finds_a_whole_export(atomic, tmp_path, monkeypatch):
    if not atomic:  # the gs:// and /gcs/ path, on a local folder
        monkeypatch.setattr(storage, "is_plain_local", lambda uri: False)
    names = ["saved_model.pb", *(f"variables/part-{i:03}" for i in range(150))]
    model_dir = tmp_path / "model"
    export._swap_in(str(_staged(tmp_path, "old", names[:100])), str(model_dir))
    new = _staged(tmp_path, "new", names[:1] + names[50:])
    seen, problems, done = set(), [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                marker = _marker(model_dir)
                present = set(storage.list_files(str(model_dir))) - {export.MARKER}
                contents = {(model_dir / "saved_model.pb").read_text()}
                if _marker(model_dir) != marker:
                    continue  # the marker changed while we listed: not one moment's view
            except (OSError, ValueError) as e:
                problems.append(repr(e))
                continue
            listed = set(marker["files"])
            if not present <= listed or "saved_model.pb" not in present:
                problems.append(f"present {len(present)} files, {len(present - listed)} unlisted")
            seen.update(contents)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        export._swap_in(str(new), str(model_dir))
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert storage.list_files(str(model_dir)) == sorted([export.MARKER, *names[:1], *names[50:]])
    assert {(model_dir / n).read_text() for n in storage.list_files(str(model_dir)) if n != export.MARKER} == {"new"}
    assert _marker(model_dir)["stage"] == "new" and not (tmp_path / f"model{export.SIBLING_SUFFIX}").exists()


@pytest.mark.parametrize("atomic", [True, False], ids=["local-exchange", "copy-over-as-on-gcs"])
def test_a_marker_a_kill_left_before_its_rename_is_ours_and_the_next_export_removes_it(atomic, tmp_path, monkeypatch):
    """Found on gs://, where a rename is a copy and a delete: the marker's temporary in the model folder."""
    if not atomic:
        monkeypatch.setattr(storage, "is_plain_local", lambda uri: False)
    model_dir = tmp_path / "model"
    export._swap_in(str(_staged(tmp_path, "old", ["saved_model.pb"])), str(model_dir))
    (model_dir / f"{export.MARKER}.tmp4242").write_text('{"stage": "ha')  # storage.write_file's, killed mid-rename
    export.check_replaceable(str(model_dir))  # still ours: no exception
    export._swap_in(str(_staged(tmp_path, "new", ["saved_model.pb"])), str(model_dir))
    assert sorted(p.name for p in model_dir.iterdir()) == [export.MARKER, "saved_model.pb"]
    assert _marker(model_dir)["stage"] == "new"


@pytest.mark.parametrize("copies_before_the_kill", [0, 1, 5, 60])
def test_an_export_killed_during_the_copy_over_leaves_a_folder_the_next_export_replaces(
    copies_before_the_kill, tmp_path, monkeypatch
):
    monkeypatch.setattr(storage, "is_plain_local", lambda uri: False)
    names = [f"variables/part-{i:03}" for i in range(80)]
    model_dir = tmp_path / "model"
    export._swap_in(str(_staged(tmp_path, "old", ["saved_model.pb", *names[:40]])), str(model_dir))
    real_copy, copies = export.tf.io.gfile.copy, []

    def dying_copy(src, dst, overwrite=False):
        if str(dst).startswith(str(model_dir) + "/"):
            if len(copies) == copies_before_the_kill:
                raise KeyboardInterrupt("killed")
            copies.append(dst)
        real_copy(src, dst, overwrite=overwrite)

    monkeypatch.setattr(export.tf.io.gfile, "copy", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        export._swap_in(str(_staged(tmp_path, "new", ["saved_model.pb", *names[20:]])), str(model_dir))
    monkeypatch.setattr(export.tf.io.gfile, "copy", real_copy)
    export.check_replaceable(str(model_dir))  # still ours: no exception
    export._swap_in(str(_staged(tmp_path, "third", ["saved_model.pb", *names[60:]])), str(model_dir))
    assert storage.list_files(str(model_dir)) == sorted([export.MARKER, "saved_model.pb", *names[60:]])
