"""Backups that survive the kill they exist for, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO, SAMPLE_DIR, read_metrics, run_in_process

from trainer import preemption, reporting

EPOCHS = 3
IDENTITY = {"stage": "tiny"}


class KillAfterBackup(keras.callbacks.Callback):
    """Ends fit() right after the backup of `epoch`, as a kill there would (Backup.on_train_end never runs)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def fit(backup_dir: Path, epochs: int = EPOCHS, kill_after: int | None = None, identity: dict = IDENTITY):
    """A small model trained on random digits with a Backup; returns the epoch records and the first epoch run."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8), dtype=np.float32), rng.integers(0, 10, 64)
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    log = reporting.EpochLog()
    first = []
    callbacks = [
        log,
        preemption.Backup(str(backup_dir), log, identity),
        keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, _: first.append(e)),
    ]
    if kill_after is not None:
        callbacks.append(KillAfterBackup(kill_after))
    try:
        model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
    except KeyboardInterrupt:
        pass
    return log.records, (first or [None])[0], model


@pytest.fixture(scope="module")
def backups(tmp_path_factory) -> dict[int, Path]:
    """The backup folder as a kill would leave it right after the backup of epoch 1, and of epoch 2."""
    root = tmp_path_factory.mktemp("backups")
    states = {}
    for epoch in (1, 2):
        fit(root / "run" / "backup", kill_after=epoch)
        states[epoch] = root / f"after-{epoch}"
        shutil.copytree(root / "run" / "backup", states[epoch])
        shutil.rmtree(root / "run")
    return states


def test_a_backup_holds_one_epochs_files_and_a_commit_naming_it(backups):
    assert sorted(p.name for p in backups[2].iterdir()) == [
        "epoch-2.weights.npz",
        "epochs-2.json",
        "training_metadata.json",
    ]
    assert json.loads((backups[2] / "training_metadata.json").read_text()) == {"epoch": 2, **IDENTITY}


def test_a_resumed_run_continues_after_the_backed_up_epoch_with_every_epoch_reported(backups, tmp_path, capsys):
    shutil.copytree(backups[2], tmp_path / "backup")
    records, first, _ = fit(tmp_path / "backup")
    assert first == 2 and [r["epoch"] for r in records] == [1, 2, 3]
    assert "resuming from the backup after epoch 2" in capsys.readouterr().out
    assert not (tmp_path / "backup").exists(), "a finished run removes its backup"


def test_resuming_restores_the_optimizer_state_too(backups, tmp_path):
    _, _, uninterrupted = fit(tmp_path / "straight")
    shutil.copytree(backups[2], tmp_path / "backup")
    _, _, resumed = fit(tmp_path / "backup")
    assert int(resumed.optimizer.iterations.numpy()) == int(uninterrupted.optimizer.iterations.numpy()) == 12
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


def _remove(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    "damage", [_truncate, _empty, _garbage, _remove], ids=["truncated", "empty", "garbage", "removed"]
)
@pytest.mark.parametrize("name", ["epoch-1.weights.npz", "epochs-1.json", "training_metadata.json"])
def test_a_damaged_backup_file_never_stops_the_rerun(name, damage, backups, tmp_path, capsys):
    shutil.copytree(backups[1], tmp_path / "backup")
    damage(tmp_path / "backup" / name)
    records, first, _ = fit(tmp_path / "backup")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    out, err = capsys.readouterr()
    if (
        first == 1
    ):  # the damage spared what resuming needs (garbage inside a float array, or a lost commit rebuilt from the files)
        assert "resuming from the backup after epoch 1" in out
    else:
        assert first == 0 and "warning: the backup after epoch 1 in " in err and "does not load" in err


def _partial_copy(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 3])


# Each state a kill can leave while the backup of epoch 2 is being written over that of epoch 1.
KILL_POINTS = {
    "while-writing-the-weights": (["epoch-2.weights.npz.tmp123"], 1),
    "after-the-weights": (["epoch-2.weights.npz"], 1),
    "while-writing-the-records": (["epoch-2.weights.npz", "epochs-2.json.tmp123"], 1),
    "while-committing": (["epoch-2.weights.npz", "epochs-2.json", "training_metadata.json.tmp123"], 1),
    "after-the-commit-before-the-cleanup": (["epoch-2.weights.npz", "epochs-2.json", "training_metadata.json"], 2),
}


@pytest.mark.parametrize("written, resumes_after", list(KILL_POINTS.values()), ids=list(KILL_POINTS))
def test_a_kill_at_any_point_of_a_backup_leaves_one_that_resumes(written, resumes_after, backups, tmp_path, capsys):
    shutil.copytree(backups[1], tmp_path / "backup")
    for name in written:
        source = backups[2] / name.split(".tmp")[0]
        target = tmp_path / "backup" / name
        _partial_copy(source, target) if ".tmp" in name else shutil.copy(source, target)
    records, first, _ = fit(tmp_path / "backup")
    assert first == resumes_after and [r["epoch"] for r in records] == [1, 2, 3]
    assert f"resuming from the backup after epoch {resumes_after}" in capsys.readouterr().out


def test_a_backup_of_another_model_is_an_error_not_a_resume(backups, tmp_path):
    shutil.copytree(backups[1], tmp_path / "backup")
    with pytest.raises(
        preemption.IncompatibleBackup,
        match=r"holds a backup of another model \(stage tiny\); pass another --checkpoint-dir",
    ):
        fit(tmp_path / "backup", identity={"stage": "conv"})
    assert (tmp_path / "backup" / "training_metadata.json").exists(), "nothing of it was deleted"


ARGS = ["--stage", "dense", "--data-dir", str(SAMPLE_DIR), "--train-size", "2000", "--test-size", "500",
        "--epochs", "3", "--no-plots"]  # fmt: skip


def _start_and_hold_after_the_first_backup(job_dir: Path, pause) -> subprocess.Popen:
    """The trainer, held before epoch 2: the backup of epoch 1 is committed and nothing after it has run."""
    held = pause("epoch=1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.task", *ARGS, "--job-dir", str(job_dir)],
        cwd=REPO,
        env={**os.environ, **held.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    held.wait(running=lambda: proc.poll() is None)
    assert (job_dir / "checkpoints" / "backup" / "training_metadata.json").exists()
    return proc


def test_a_truncated_backup_through_the_cli_warns_and_the_rerun_finishes(tmp_path, pause):
    """The issue's report: kill after the first backup, truncate it, rerun the same command."""
    proc = _start_and_hold_after_the_first_backup(tmp_path, pause)
    proc.kill()
    proc.communicate()
    (weights,) = (tmp_path / "checkpoints" / "backup").glob("epoch-*.weights.npz")
    _truncate(weights)
    result = run_in_process(*ARGS, "--job-dir", str(tmp_path))  # the rerun: the kill was the process's part
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert f"warning: the backup after epoch {weights.name.split('-')[1].split('.')[0]} in " in result.stderr
    assert [e["epoch"] for e in read_metrics(tmp_path)["epochs"]] == [1, 2, 3]


def test_sigterm_stops_between_steps_in_one_line_and_the_rerun_resumes(tmp_path, pause):
    proc = _start_and_hold_after_the_first_backup(tmp_path, pause)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in stderr
    backed_up = json.loads((tmp_path / "checkpoints" / "backup" / "training_metadata.json").read_text())["epoch"]
    assert backed_up == 1
    assert stderr.strip().splitlines()[-1] == (
        f"stopped: SIGTERM received during epoch {backed_up + 1}; the backup after epoch "
        f"{backed_up} is kept in {tmp_path}/checkpoints/backup: rerun the same command to resume"
    )
    result = run_in_process(*ARGS, "--job-dir", str(tmp_path))  # the rerun: the kill was the process's part
    assert result.returncode == 0 and f"resuming from the backup after epoch {backed_up}" in result.stdout
    assert [e["epoch"] for e in read_metrics(tmp_path)["epochs"]] == [1, 2, 3]
