"""The training image built with podman and jobs run in it as Vertex AI would: a smoke training, a chief and a
worker in two containers (MultiWorkerMirroredStrategy across them), tuning trials. Outputs are checked on the host.
The TPU image: test_tpu_image.py.

Needs podman (and debootstrap, once): .ci/run installs them and runs these after the suite
(`pytest -m container`), because the build takes minutes.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from conftest import local_container, read_metrics

from trainer.submit import cli, container, source

IN_THE_IMAGE = "digits from /app/trainer/sample"  # the package as the image installed it, not this checkout


def _check_outputs(folder) -> dict:
    """The chief's outputs, where Vertex AI's variables put them: the SavedModel, metrics.json and the
    tuning metric file, whose last value is the test accuracy."""
    assert (folder / "model" / "saved_model.pb").is_file()
    metrics = read_metrics(folder)
    last = json.loads((folder / "hypertune" / "workerpool0-0.metrics").read_text().splitlines()[-1])
    assert float(last["accuracy"]) == pytest.approx(metrics["test_accuracy"])
    return metrics


@pytest.fixture(scope="module")
def image():
    assert cli.main(["build", "--local"]) == 0
    built, repository = container.image_for(), container.IMAGES["training"]
    stale = f"{repository}:src-000000000000"  # as a build from another source leaves it
    subprocess.run(["podman", "tag", built, stale], check=True)
    assert cli.main(["build", "--local"]) == 0  # again: this source's image is here, so nothing is built
    tags = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert stale not in tags and {built, f"{repository}:local"} <= set(tags), tags
    return built


@pytest.mark.container
def test_the_image_builds_on_the_stand_in_base_with_the_dockerfiles_entry_point(image):
    inspect = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(inspect.stdout) == ["python", "-m", "trainer.task"]


@pytest.mark.container
def test_a_rebuild_after_an_edit_to_the_trainer_takes_tensorflow_from_the_build_cache(image, tmp_path, capsys):
    """TensorFlow is installed in a layer of its own, before the trainer's files are copied: rebuilding after an edit
    installs only the package (seconds), not TensorFlow (minutes). The build is `build --local`'s own command, on a
    copy of the build context with trainer/models.py edited, tagged apart and removed after."""
    for name in [*source.files("Dockerfile"), ".dockerignore"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source.CONTEXT / name, tmp_path / name)
    with (tmp_path / "trainer" / "models.py").open("a") as models:
        models.write("# an edit\n")
    assert cli.main(["build", "--local", "--dry-run"]) == 0
    command = [w.replace(str(source.CONTEXT), str(tmp_path)) for w in capsys.readouterr().out.splitlines()[-1].split()]
    while "--tag" in command:  # build --local's own tags, replaced by one of this test's
        del command[command.index("--tag") : command.index("--tag") + 2]
    edited = "localhost/mnist-trainer-edited:check"
    command[-1:-1] = ["--tag", edited]
    try:
        build = subprocess.run(command, capture_output=True, text=True)
    finally:
        subprocess.run(["podman", "rmi", "--force", edited], capture_output=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    steps = re.split(r"^STEP \d+/\d+: ", build.stdout, flags=re.MULTILINE)[1:]
    cached = {step.splitlines()[0]: "--> Using cache " in step for step in steps}
    assert cached['RUN pip install --no-cache-dir "${TENSORFLOW}"'] is True, build.stdout[-3000:]
    assert cached["COPY trainer ./trainer"] is False, build.stdout[-3000:]  # the edit reached the build


@pytest.mark.container
def test_a_smoke_training_in_the_container_writes_its_outputs_on_the_host(image, tmp_path, capfd):
    assert local_container(tmp_path, "--stage", "conv", "--smoke") == 0
    assert _check_outputs(tmp_path)["stage"] == "conv"
    out = capfd.readouterr().out
    assert f"in {image}" in out and IN_THE_IMAGE in out


@pytest.mark.container
def test_a_chief_and_a_worker_train_together_across_two_containers(image, tmp_path, capfd):
    assert local_container(tmp_path, "--replicas", "2", "--stage", "dense", "--smoke") == 0
    out = capfd.readouterr().out
    assert out.count("strategy: MultiWorkerMirroredStrategy over 2 replicas on 2 workers") == 2
    assert out.count(IN_THE_IMAGE) == 2
    _check_outputs(tmp_path)
    assert not (tmp_path / "hypertune" / "workerpool1-0.metrics").exists()  # only the chief reports


@pytest.mark.container
def test_tune_local_container_runs_each_trial_in_the_image(image, tmp_path, capfd):
    argv = ["tune", "--local", "--container", "--output-dir", str(tmp_path), "--max-trials", "2",
            "--parallel-trials", "1", "--smoke"]  # fmt: skip
    assert cli.main(argv) == 0
    for trial in ("1", "2"):
        _check_outputs(tmp_path / trial)
        assert IN_THE_IMAGE in (tmp_path / trial / "log.txt").read_text()


def test_build_local_dry_run_prints_the_podman_build_and_builds_nothing(clean_settings, capsys, monkeypatch):
    monkeypatch.setattr(container, "podman", lambda: "podman")  # the command is printed whether podman is here or not
    assert cli.main(["build", "--local", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("podman build --network host") and f"--build-arg BASE={container.STAND_IN}" in out
    assert f"--build-arg TENSORFLOW={container.CPU_TENSORFLOW}" in out
    assert f"--tag {container.IMAGES['training']}:src-" in out and f"--tag {container.IMAGES['training']}:local" in out
    assert cli.main(["build", "--local", "--tpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "TENSORFLOW" not in out and "Dockerfile.tpu" in out and f"--tag {container.IMAGES['tpu']}:src-" in out
    assert cli.main(["build", "--local", "--serving", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "--build-arg TENSORFLOW" not in out
        and "Dockerfile.serving" in out
        and f"--tag {container.IMAGES['serving']}:src-" in out
    )
    assert (
        cli.main(["build", "--serving", "--dry-run", "--project", "demo-project"]) == 2
    )  # the cloud build makes both anyway


def test_container_commands_without_podman_give_one_line_that_says_how_to_install_it(
    clean_settings, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman on it
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").touch()  # a model folder: podman is the missing piece
    serve = ["serve", "--local", "--model-dir", str(tmp_path / "model")]
    for argv in (["build", "--local"], ["local", "--container", "--smoke"], ["tune", "--local", "--container"], serve):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: podman not found: install it with `apt-get install -y podman runc`"), err
        assert len(err.splitlines()) == 1


def test_serve_local_without_a_model_there_is_one_line_before_podman_is_asked(clean_settings, tmp_path, capsys):
    assert cli.main(["serve", "--local", "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: --model-dir {tmp_path}: no saved_model.pb there; pass the model folder a run wrote (JOB_DIR/model)\n"
    )


def test_two_builds_at_once_make_the_stand_in_base_once(clean_settings, tmp_path, monkeypatch):
    """CI's second step builds the training and serving images side by side; the second waits for the first's base.
    debootstrap and podman are stand-ins here (scripts on PATH): the lock, not the tools, is the subject."""
    bin_dir, calls, made = tmp_path / "bin", tmp_path / "debootstrap-calls", tmp_path / "imported"
    bin_dir.mkdir()
    scripts = {
        "debootstrap": f'echo "$@" >> {calls}; sleep 1; mkdir -p "$4/usr/local/bin" "$4/usr/lib/python3.11"',
        "podman": f'case "$1 $2" in "image exists") test -e {made} ;; import*) cat > /dev/null; touch {made} ;; esac',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lock file's folder
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        bases = list(pool.map(lambda _: container.stand_in_base(), range(2)))
    assert bases == [container.STAND_IN] * 2
    assert len(calls.read_text().splitlines()) == 1
