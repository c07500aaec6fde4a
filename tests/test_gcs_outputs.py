"""The gs:// branch every Vertex AI job takes, run for real: the trainer, a real process, writes through
TensorFlow's own Cloud Storage client to a local GCS server (gcs_world.py), and everything is read back
through google-cloud-storage's JSON API."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import gcs_world
import numpy as np
import pytest
from conftest import SAMPLE_DIR, SAMPLE_TEST_IMAGES
from gcs_front import REFUSED_BUCKETS

from trainer import data, predict

reason = gcs_world.unavailable()
pytestmark = [pytest.mark.skipif(reason is not None, reason=reason or ""), pytest.mark.long]
REFUSED = REFUSED_BUCKETS[0]

ARGS = ["--stage", "dense", "--data-dir", "gs://bkt/mnist", "--train-size", "1000", "--test-size", "500",
        "--epochs", "3"]  # fmt: skip
BACKUP = ["training_metadata.json", "epoch-1.weights.npz", "epochs-1.json"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The world, with bucket bkt holding the MNIST sample under mnist/."""
    with gcs_world.GcsWorld(tmp_path_factory.mktemp("gcs-world")) as w:
        bucket = w.client.create_bucket("bkt")
        for path in SAMPLE_DIR.glob("*.gz"):
            bucket.blob(f"mnist/{path.name}").upload_from_filename(path)
        w.client.create_bucket(REFUSED)
        yield w


@pytest.fixture(autouse=True)
def _nothing_left_running(world):
    yield
    world.end_started()


def _train_held_after_epoch_1(world, pause, *args: str, env: dict | None = None):
    """The trainer inside the world, held before epoch 2; returns the process and the pause."""
    held = pause("epoch=1")
    proc = world.popen(sys.executable, "-m", "trainer.task", *ARGS, *args, env={**held.env(), **(env or {})},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    held.wait(running=lambda: proc.poll() is None)
    return proc, held


def _predicted_digits(world, model: str) -> np.ndarray:
    """trainer.predict on the 500 sample test digits the job evaluated on: for a gs:// model, inside the world, reading
    it through TensorFlow's client; for a local copy, in this process (no process to start)."""
    images = SAMPLE_TEST_IMAGES
    if model.startswith("gs://"):
        result = world.run(sys.executable, "-m", "trainer.predict", "--model-dir", model, str(images))
        assert result.returncode == 0, result.stderr
        lines = result.stdout
    else:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert predict.main(["--model-dir", model, str(images)]) == 0
        lines = out.getvalue()
    return np.array([int(line.split(": ")[1].split()[0]) for line in lines.splitlines()])[:500]


def _assert_every_output_written(world, root: str, copy_to: Path | None = None) -> None:
    """The finished job's outputs under gs://bkt/root: a whole export, logs, plots, metrics, no backup or temporary
    left; and trainer.predict agreeing with the test accuracy the job reported, on gs:// itself or, with copy_to, on
    the model's objects as read here, written there (the first test proves the gs:// read)."""
    written = world.objects("bkt", f"{root}/")
    marker = json.loads(written["model/export.json"])
    assert {"model/saved_model.pb", "model/model.keras", "metrics.json", "curves.png", "digits.png"} <= set(written)
    assert sorted(f"model/{name}" for name in marker["files"]) == sorted(
        n for n in written if n.startswith("model/") and n != "model/export.json"
    )
    assert any(n.startswith("logs/train/events.out.tfevents") for n in written)
    assert any(n.startswith("logs/validation/events.out.tfevents") for n in written)
    assert not [n for n in written if n.startswith("checkpoints/")], "the backup is removed once training completes"
    assert not [n for n in written if ".write-probe-" in n or ".tmp" in n or "export-tmp" in n]
    assert written["curves.png"].startswith(b"\x89PNG") and written["digits.png"].startswith(b"\x89PNG")
    metrics = json.loads(written["metrics.json"])
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3] and metrics["data"]["data_dir"] == "gs://bkt/mnist"

    model = f"gs://bkt/{root}/model"
    if copy_to is not None:
        for name, content in written.items():
            if name.startswith("model/"):
                (copy_to / name).parent.mkdir(parents=True, exist_ok=True)
                (copy_to / name).write_bytes(content)
        model = str(copy_to / "model")
    digits = _predicted_digits(world, model)
    labels = data.read_labels(SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")[:500]
    assert np.mean(digits == labels) == pytest.approx(metrics["test_accuracy"], abs=0.01)


def _assert_backed_up_after_epoch_1(world, root: str) -> None:
    backup = world.objects("bkt", f"{root}/checkpoints/backup/")
    assert sorted(backup) == sorted(BACKUP) and json.loads(backup["training_metadata.json"])["epoch"] == 1


# Each test below runs one job and checks all it shows: every trainer process here costs a TensorFlow import and a
# publish through the TLS front, so the rerun reuses the --job-dir job and the killed job is the AIP_* one.
def test_a_job_writes_every_output_to_cloud_storage_and_a_rerun_replaces_the_export_whole(world, pause):
    """--job-dir: the backup after epoch 1, every output, predictions from gs://; then a rerun into the same folder
    while a client polls it through the JSON API always sees one whole export, the old one or the new."""
    proc, held = _train_held_after_epoch_1(world, pause, "--job-dir", "gs://bkt/flag")
    _assert_backed_up_after_epoch_1(world, "flag")
    held.go()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _assert_every_output_written(world, "flag")

    old = json.loads(world.objects("bkt", "flag/model/")["export.json"])
    seen, problems, done = set(), [], threading.Event()

    def reader():  # a client polling the model folder through the JSON API while the export is swapped
        bucket = world.client.bucket("bkt")
        while not done.is_set():
            try:
                marker = json.loads(bucket.blob("flag/model/export.json").download_as_bytes())
                listing = world.client.list_blobs("bkt", prefix="flag/model/")
                present = {b.name.removeprefix("flag/model/") for b in listing if not b.name.endswith("/")}
                if json.loads(bucket.blob("flag/model/export.json").download_as_bytes()) != marker:
                    continue  # the marker changed while we listed: not one moment's view
            except Exception as e:  # noqa: BLE001 - any failure to read is a finding
                problems.append(repr(e))
                continue
            present.discard("export.json")
            if not present <= set(marker["files"]) or "saved_model.pb" not in present:
                problems.append(f"{len(present)} objects, unlisted: {sorted(present - set(marker['files']))[:3]}")
            seen.add(marker["written"])

    # The rerun holds once trained, before its export, so the client polls (a busy loop) only while the export is
    # written and swapped in.
    held = pause("export", "rerun")
    proc = world.popen(sys.executable, "-m", "trainer.task", *ARGS, "--job-dir", "gs://bkt/flag", "--no-plots",
                       "--epochs", "1", env=held.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    held.wait(running=lambda: proc.poll() is None)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        held.go()
        _, err = proc.communicate(timeout=600)
    finally:
        done.set()
        thread.join()
    assert proc.returncode == 0, err
    new = json.loads(world.objects("bkt", "flag/model/")["export.json"])
    assert problems == [] and new["written"] != old["written"] and {old["written"], new["written"]} <= seen
    assert sorted(n for n in world.objects("bkt", "flag/model/") if n != "export.json") == sorted(new["files"])


REFUSALS = {
    "foreign-object": (["--job-dir", "gs://bkt/foreign/job", "--model-dir", "gs://bkt/foreign/model"],
        "error: --model-dir gs://bkt/foreign/model: holds files this trainer did not write (thesis.txt); it replaces "
        "only an empty folder or its own previous export: pass a new or empty folder"),
    "bucket-root": (["--job-dir", "gs://bkt/root/job", "--model-dir", "gs://bkt"],
        "error: --model-dir gs://bkt: is a bucket root; every export replaces the model folder, so give it one of its "
        "own, e.g. gs://bkt/mnist/model"),
    "no-such-bucket": (["--job-dir", "gs://no-such-bucket/run"], "error: --model-dir (default: JOB_DIR/model) "
        "gs://no-such-bucket/run/model: cannot write there ("),
    "refused-bucket": (["--job-dir", "gs://refused-bucket/run"], "error: --model-dir (default: JOB_DIR/model) "
        "gs://refused-bucket/run/model: cannot write there (permission denied); the job's service account needs write "
        "access to the bucket (roles/storage.objectUser)"),
}  # fmt: skip
# The refusals share one process (trainer.task.main once per case): the refusal, not the process, is the subject,
# and each process start costs a TensorFlow import.
EACH_MAIN = """
import contextlib, io, json, sys
from trainer import task
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = task.main(argv)
    results[name] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def refusals(world):
    """{case: (exit status, stdout, stderr)} of the trainer for each REFUSALS case, run inside the world."""
    world.client.bucket("bkt").blob("foreign/model/thesis.txt").upload_from_string(b"four years of work")
    cases = json.dumps({name: [*ARGS, *args] for name, (args, _) in REFUSALS.items()})
    result = world.run(sys.executable, "-c", EACH_MAIN, cases)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", REFUSALS)
def test_a_location_the_job_must_not_or_cannot_write_is_one_line_before_training(world, refusals, case):
    code, out, err = refusals[case]
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(REFUSALS[case][1]), err
    assert "data:" not in out and "Epoch" not in out
    assert world.objects("bkt", "foreign/") == {"model/thesis.txt": b"four years of work"}
    assert world.objects("bkt", "root/") == {} and world.objects(REFUSED) == {}


def test_a_killed_vertex_job_resumes_from_its_gs_backup_skips_a_truncated_one_and_writes_every_output(
    world, pause, tmp_path
):
    """The AIP_* variables (with the trailing slash Vertex AI gives them) and no --job-dir: killed after its backup
    of epoch 1, killed again after epoch 2's with that backup then truncated, the third run finishes the job."""
    env = {
        "AIP_MODEL_DIR": "gs://bkt/aip/model/",
        "AIP_CHECKPOINT_DIR": "gs://bkt/aip/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": "gs://bkt/aip/logs/",
    }
    proc, _ = _train_held_after_epoch_1(world, pause, env=env)
    _assert_backed_up_after_epoch_1(world, "aip")
    proc.send_signal(signal.SIGKILL)  # the namespace's `ip netns exec` execs the trainer: this is its pid
    proc.communicate()

    held = pause("epoch=2", "second")  # resumes after epoch 1, then holds after backing up epoch 2
    resumed = world.popen(sys.executable, "-m", "trainer.task", *ARGS, env={**held.env(), **env},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    held.wait(running=lambda: resumed.poll() is None)
    resumed.send_signal(signal.SIGKILL)
    out, _ = resumed.communicate()
    assert "resuming from the backup after epoch 1" in out
    weights = world.client.bucket("bkt").blob("aip/checkpoints/backup/epoch-2.weights.npz")
    weights.upload_from_string(weights.download_as_bytes()[:1000])  # truncated, as a torn upload would leave it

    last = world.run_trainer(*ARGS, env=env)
    assert last.returncode == 0 and "Traceback" not in last.stderr, last.stderr
    assert "warning: the backup after epoch 2 in gs://bkt/aip/checkpoints/backup" in last.stderr
    _assert_every_output_written(world, "aip", copy_to=tmp_path)
