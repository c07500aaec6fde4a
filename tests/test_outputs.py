"""Output safety: the trainer replaces only its own export, refuses unwritable locations before training,
and a disk that fills ends in one line with the previous export intact."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO, SAMPLE_DIR, TINY, run_in_process

from trainer import export, storage, task

SOFTMAX = ["--stage", "softmax", "--data-dir", str(SAMPLE_DIR), "--no-plots", *TINY]


def last_error(result_or_text) -> str:
    text = result_or_text if isinstance(result_or_text, str) else result_or_text.stderr
    return text.strip().splitlines()[-1]


def test_a_model_folder_holding_a_users_file_is_refused_and_the_file_is_kept(tmp_path):
    models = tmp_path / "my-models"
    models.mkdir()
    (models / "thesis.txt").write_text("four years of work")
    started = time.monotonic()
    result = run_in_process("--smoke", "--model-dir", str(models), "--job-dir", str(tmp_path / "job"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert last_error(result) == (
        f"error: --model-dir {models}: holds files this trainer did not write (thesis.txt); it replaces "
        "only an empty folder or its own previous export: pass a new or empty folder"
    )
    assert (models / "thesis.txt").read_text() == "four years of work" and sorted(p.name for p in models.iterdir()) == [
        "thesis.txt"
    ]
    assert "Epoch" not in result.stdout and not (tmp_path / "job").exists()
    assert time.monotonic() - started < 120  # a hang, not a speed: the point is that no data was read


def test_a_file_in_place_of_the_model_folder_is_refused(tmp_path, capsys):
    (tmp_path / "model").write_text("not a folder")
    assert task.main(["--smoke", "--job-dir", str(tmp_path)]) == 2
    assert last_error(capsys.readouterr().err) == (
        f"error: --model-dir (default: JOB_DIR/model) {tmp_path}/model: is a file, "
        "not a folder; pass a folder for the model"
    )
    assert (tmp_path / "model").read_text() == "not a folder"


@pytest.mark.parametrize("model_dir", ["gs://my-bucket", "gs://my-bucket/", "/gcs/my-bucket"])
def test_a_bucket_root_is_refused_from_the_flag_or_the_vertex_variable(model_dir, tmp_path, capsys, monkeypatch):
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), "--model-dir", model_dir]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: --model-dir {model_dir}: is a bucket root; ")
    monkeypatch.setenv("AIP_MODEL_DIR", model_dir)
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job")]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: $AIP_MODEL_DIR {model_dir}: is a bucket root; ")
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize("model_dir", ["/", "//", "/./"])
def test_the_root_folder_is_refused_for_the_model_before_anything_lists_it(model_dir, tmp_path, capsys, monkeypatch):
    """An export replaces its folder; the root is the whole disk (it was a traceback from listing it, too)."""

    def listed(folder):  # without the check, a walk of the whole disk: fail at once rather than hang
        raise AssertionError(f"listed {folder}")

    monkeypatch.setattr(storage, "list_files", listed)
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), "--model-dir", model_dir]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: --model-dir {model_dir}: is the root folder; ")
    monkeypatch.setenv("AIP_MODEL_DIR", model_dir)
    assert task.main(["--smoke"]) == 2
    assert last_error(capsys.readouterr().err).startswith(f"error: $AIP_MODEL_DIR {model_dir}: is the root folder; ")
    assert not (tmp_path / "job").exists()


def test_a_folder_in_place_of_the_tuning_metric_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """It failed after the first epoch (exit 1, "Is a directory"), the run's time lost."""
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(tmp_path))
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job")]) == 2
    out, err = capsys.readouterr()
    assert last_error(err) == (
        f"error: $CLOUD_ML_HP_METRIC_FILE {tmp_path}: is a folder; cloudml-hypertune writes the tuning metric to a "
        "file, e.g. /tmp/hypertune/output.metrics (its default)"
    )
    assert "Epoch" not in out and not (tmp_path / "job").exists()


def test_the_model_folder_may_not_also_hold_the_other_outputs(tmp_path, capsys):
    assert task.main(["--smoke", "--job-dir", str(tmp_path), "--model-dir", str(tmp_path)]) == 2
    assert last_error(capsys.readouterr().err) == (
        f"error: --model-dir {tmp_path}: also holds --job-dir {tmp_path}; every export "
        "replaces the model folder, so give the model a folder of its own"
    )


UNWRITABLE = "/proc/nope"  # root may write almost anywhere; not under /proc, nor below a file


@pytest.mark.parametrize(
    "flags, env, named",
    [
        (["--model-dir", f"{UNWRITABLE}/model"], {}, f"--model-dir {UNWRITABLE}/model"),
        (["--checkpoint-dir", "<FILE>/checkpoints"], {}, "--checkpoint-dir <FILE>/checkpoints"),
        (["--tensorboard-dir", f"{UNWRITABLE}/logs"], {}, f"--tensorboard-dir {UNWRITABLE}/logs"),
        ([], {"AIP_CHECKPOINT_DIR": f"{UNWRITABLE}/ckpt"}, f"$AIP_CHECKPOINT_DIR {UNWRITABLE}/ckpt"),
        (
            [],
            {"CLOUD_ML_HP_METRIC_FILE": f"{UNWRITABLE}/hp/output.metrics"},
            f"$CLOUD_ML_HP_METRIC_FILE {UNWRITABLE}/hp",
        ),
    ],
    ids=["model-dir", "checkpoint-dir-below-a-file", "tensorboard-dir", "aip-checkpoint-dir", "hypertune-metric-file"],
)
def test_each_unwritable_output_is_refused_before_the_data_is_read(flags, env, named, tmp_path, capsys, monkeypatch):
    (tmp_path / "FILE").write_text("a file, not a folder")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    flags = [f.replace("<FILE>", str(tmp_path / "FILE")) for f in flags]
    named = named.replace("<FILE>", str(tmp_path / "FILE"))
    assert task.main(["--smoke", "--job-dir", str(tmp_path / "job"), *flags]) == 2
    out, err = capsys.readouterr()
    assert last_error(err).startswith(f"error: {named}: cannot write there (")
    assert "data:" not in out and "Epoch" not in out
    assert not (tmp_path / "job").exists(), "the probes leave nothing behind"


def test_an_unwritable_job_dir_fails_in_seconds_through_the_cli():
    started = time.monotonic()
    result = run_in_process("--smoke", "--job-dir", UNWRITABLE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert last_error(result).startswith(
        f"error: --model-dir (default: JOB_DIR/model) {UNWRITABLE}/model: cannot write there ("
    )
    assert time.monotonic() - started < 120  # a hang, not a speed: the point is that no data was read


def _marker(model_dir) -> dict:
    return json.loads((model_dir / export.MARKER).read_text())


def test_a_second_run_replaces_its_own_export_and_leaves_nothing_beside_it(tmp_path):
    assert task.main([*SOFTMAX, "--job-dir", str(tmp_path)]) == 0
    first = _marker(tmp_path / "model")
    assert first["stage"] == "softmax" and "saved_model.pb" in first["files"] and "model.keras" in first["files"]
    assert sorted(storage.list_files(str(tmp_path / "model"))) == sorted([*first["files"], export.MARKER])
    time.sleep(1.1)  # the marker's time has one-second resolution
    assert task.main([*SOFTMAX, "--job-dir", str(tmp_path)]) == 0
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


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize(
    "limit, message",
    [
        (20_000, "error: cannot write JOB/checkpoints/backup/epoch-1.weights.npz"),
        (50_000, "error: cannot export the model to JOB/model"),
    ],
    ids=["backup", "export"],
)
def test_a_disk_that_fills_mid_run_ends_in_one_line_and_keeps_the_previous_export(limit, message, tmp_path):
    assert task.main([*SOFTMAX, "--job-dir", str(tmp_path)]) == 0
    before = {name: (tmp_path / "model" / name).read_bytes() for name in storage.list_files(str(tmp_path / "model"))}
    result = subprocess.run(
        [sys.executable, "-m", "trainer.task", *SOFTMAX, "--job-dir", str(tmp_path), "--epochs", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_file_size_limit(limit),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert last_error(result).startswith(message.replace("JOB", str(tmp_path))) and "File too large" in last_error(
        result
    )
    after = {name: (tmp_path / "model" / name).read_bytes() for name in storage.list_files(str(tmp_path / "model"))}
    assert after == before
