"""Surviving the kill: backups written whole or not at all, resumed from the last good one, and a clean
stop between two steps on SIGTERM (what Vertex AI sends first on preemption and cancellation).

Keras's BackupAndRestore overwrites latest.weights.h5 in place, so a kill during that write leaves a
truncated file that every rerun fails to load, and Vertex AI's restarts loop on it; and h5py crashes
the process when a write fails on a full disk. Here each epoch's state (model and optimizer
variables, in numpy's .npz format, built in memory) and records get names of their own, and
training_metadata.json, written last and atomically, commits them; a backup that does not load is
skipped with a warning.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import sys
import zipfile

import keras
import numpy as np
import tensorflow as tf

from trainer import reporting, storage

METADATA = "training_metadata.json"


class IncompatibleBackup(Exception):
    """The checkpoint folder holds a backup of another model; resuming from it would be wrong."""


class Terminated(Exception):
    """SIGTERM arrived; training stopped between two steps, the last backup intact."""


def _weights(epoch: int) -> str:
    return f"epoch-{epoch}.weights.npz"


def _records(epoch: int) -> str:
    return f"epochs-{epoch}.json"


class Backup(keras.callbacks.Callback):
    """Backs up weights, optimizer state and epoch records after every epoch; restores the newest good backup.

    `identity` (e.g. the stage) is stored with each backup: a backup of another model is an error,
    not something to load. The epoch records go back into `epoch_log`, so metrics.json lists every
    epoch of a resumed run.
    """

    def __init__(self, backup_dir: str, epoch_log: reporting.EpochLog, identity: dict) -> None:
        super().__init__()
        self.backup_dir, self.epoch_log, self.identity = backup_dir, epoch_log, identity
        self.last_epoch = 0

    def _path(self, name: str) -> str:
        return storage.join(self.backup_dir, name)

    def _ours(self) -> dict[int, list[str]]:
        """The backup files in the folder, by epoch."""
        found: dict[int, list[str]] = {}
        for name in storage.list_files(self.backup_dir):
            match = re.fullmatch(r"epoch-(\d+)\.weights\.npz|epochs-(\d+)\.json", name)
            if match:
                found.setdefault(int(match.group(1) or match.group(2)), []).append(name)
        return found

    def _committed_epoch(self) -> int | None:
        try:
            metadata = json.loads(storage.read_text(self._path(METADATA)))
            epoch = int(metadata["epoch"])
        except (tf.errors.NotFoundError, ValueError, KeyError, TypeError):
            return None
        except tf.errors.OpError as e:
            raise storage.StorageError(f"cannot read the backup in {self.backup_dir}: {storage.cause(e)}") from None
        if any(metadata.get(key) != value for key, value in self.identity.items()):
            theirs = ", ".join(f"{k} {metadata.get(k)}" for k in self.identity)
            raise IncompatibleBackup(
                f"{self.backup_dir} holds a backup of another model ({theirs}); pass another "
                "--checkpoint-dir, or remove that folder to start over"
            )
        return epoch

    def _load(self, epoch: int) -> list[dict]:
        """Restore one backup; raises ValueError, OSError or an OpError when it does not load whole."""
        records = json.loads(storage.read_text(self._path(_records(epoch))))
        if [r["epoch"] for r in records] != list(range(1, epoch + 1)):
            raise ValueError(f"{_records(epoch)} does not list epochs 1 to {epoch}")
        with tf.io.gfile.GFile(self._path(_weights(epoch)), "rb") as f, np.load(io.BytesIO(f.read())) as saved:
            values = [saved[f"v{i}"] for i in range(len(saved.files))]  # read all: a damaged file fails here
        variables = self._variables()
        if [tuple(v.shape) for v in variables] != [a.shape for a in values]:
            raise ValueError("its variables do not match this model's")
        for variable, value in zip(
            variables, values, strict=True
        ):  # nothing is assigned until everything has been read
            variable.assign(value)
        return records

    def _variables(self) -> list:
        """The model's weights and its optimizer's state (step count, moments): what resuming needs."""
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        return [*self.model.weights, *self.model.optimizer.variables]

    def on_train_begin(self, logs=None):
        committed = self._committed_epoch()
        found = self._ours()
        # The committed backup first; older files still there (a kill before their removal), or every
        # complete-looking one when the commit itself is unreadable, after it.
        older = [e for e in sorted(found, reverse=True) if committed is None or e < committed]
        candidates = ([committed] if committed is not None else []) + older
        for epoch in candidates:
            try:
                records = self._load(epoch)
            except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, tf.errors.OpError) as e:
                print(
                    f"warning: the backup after epoch {epoch} in {self.backup_dir} does not load ({storage.cause(e)}); "
                    "ignoring it",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            self.model._initial_epoch = epoch  # how Keras's own BackupAndRestore tells fit() where to start
            self.epoch_log.records, self.last_epoch = records, epoch
            print(f"resuming from the backup after epoch {epoch}", flush=True)
            return
        if candidates:
            print("warning: no backup loads; training starts from the first epoch", file=sys.stderr, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        try:
            state = io.BytesIO()
            np.savez(state, **{f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(self._variables())})
            storage.write_file(self._path(_weights(done)), state.getvalue())
            storage.write_file(self._path(_records(done)), json.dumps(self.epoch_log.records).encode())
            storage.write_file(
                self._path(METADATA), json.dumps({"epoch": done, **self.identity}).encode()
            )  # the commit
            storage.remove_files(self.backup_dir, [n for e, names in self._ours().items() if e != done for n in names])
        except (tf.errors.OpError, OSError) as e:  # write_file's own StorageError names the file already
            raise storage.StorageError(f"cannot write the backup to {self.backup_dir}: {storage.cause(e)}") from None
        self.last_epoch = done

    def on_train_end(self, logs=None):
        """Training is complete: the backup has served its purpose (as Keras's BackupAndRestore does)."""
        storage.remove_files(self.backup_dir, [METADATA, *(n for names in self._ours().values() for n in names)])


class StopOnSigterm(keras.callbacks.Callback):
    """Turns SIGTERM into a Terminated exception at the next step boundary, never during a backup's write."""

    def __init__(self) -> None:
        super().__init__()
        self.received = False
        self._epoch = 0

    def note(self, signum, frame) -> None:
        self.received = True

    def _check(self) -> None:
        if self.received:
            raise Terminated(f"SIGTERM received during epoch {self._epoch + 1}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._check()

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        self._check()


@contextlib.contextmanager
def stop_on_sigterm():
    """While inside, SIGTERM stops training cleanly at the next step; the returned callback goes to fit()."""
    stop = StopOnSigterm()
    previous = signal.signal(signal.SIGTERM, stop.note)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
