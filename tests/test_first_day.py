"""A user's first day, from a new Google Cloud project to a first job that succeeds: `doctor` names each missing
piece and its fix, `setup` makes what it can (Service Usage, Artifact Registry and Cloud Quotas in the fake,
driven by their client libraries; Cloud Storage on fake-gcs-server), the quota is granted, `build` then `train`
succeed; an edit makes `train` refuse the stale image until `build` runs again; a build of an unchanged source
builds nothing."""

from __future__ import annotations

import re

import pytest
from conftest import PROJECT, PROJECT_BUCKET, SAMPLE_DIR, T4_QUOTA, launch_in_new_project
from google.cloud import storage

from trainer.submit import source

pytestmark = pytest.mark.usefixtures("clean_settings")
TRAIN = ["--stage", "dense", "--data-dir", f"{PROJECT_BUCKET}/mnist", "--train-size", "1000", "--test-size", "500",
         "--epochs", "1", "--no-plots", "--display-name", "first-job",
         "--accelerator=cpu"]  # the fake runs the T4 job here, on the CPU  # fmt: skip


def _failed(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAILED")]


def _built(vertex, calls) -> None:
    """What Cloud Build pushes for the last `gcloud builds submit`: each image under its src- tag."""
    last = calls.read_text().splitlines()[-1]
    tags = dict(re.findall(r"(_TAG|_SERVING_TAG)=(src-[0-9a-f]{12})", last))
    registry = f"us-central1-docker.pkg.dev/{PROJECT}/mnist"
    vertex.registry.push(f"{registry}/mnist-trainer:{tags['_TAG']}")
    vertex.registry.push(f"{registry}/mnist-serving:{tags['_SERVING_TAG']}")


def test_a_new_project_reaches_a_first_job_through_doctor_setup_build_and_train(new_project, capsys):
    vertex, context, calls, front = new_project

    code, out, err = launch_in_new_project(
        capsys, "doctor"
    )  # 1-2: a new project; one line per missing piece, each with its fix
    assert code == 2, err
    failed = _failed(out)
    assert len(failed) == 5 + 1 + 1 + 1 + 2 + 1 and all("fix: " in line for line in failed), out
    for piece in ("service aiplatform.googleapis.com", "service cloudbuild.googleapis.com", f"bucket {PROJECT_BUCKET}",
                  f"data {PROJECT_BUCKET}/mnist", f"repository us-central1-docker.pkg.dev/{PROJECT}/mnist",
                  "training image", "serving image", "quota custom_model_training_nvidia_t4_gpus in us-central1"):  # fmt: skip
        assert any(line.split(None, 1)[1].startswith(piece) for line in failed), (piece, out)
    assert "0 granted, the job needs 1" in out and "./submit.sh setup" in out and "./submit.sh build" in out

    code, out, err = launch_in_new_project(capsys, "setup")  # 3: all it can
    assert code == 0, err
    assert out.count("\nenabled ") + out.startswith("enabled ") == 5 and "created         repository" in out
    assert "created         bucket" in out and out.count("copied ") == 4, out
    assert vertex.project.projects[PROJECT].services >= {"aiplatform.googleapis.com", "storage.googleapis.com"}
    bucket = storage.Client().get_bucket("first-day-mnist")
    assert bucket.location.lower() == "us-central1"
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled
    assert bucket.iam_configuration.public_access_prevention == "enforced"
    for path in SAMPLE_DIR.glob("*.gz"):  # the public files, byte for byte
        assert bucket.blob(f"mnist/{path.name}").download_as_bytes() == path.read_bytes()
    code, out, err = launch_in_new_project(capsys, "setup")  # idempotent: everything already there
    assert code == 0 and "created" not in out and "copied" not in out and out.count("already") == 5 + 1 + 1 + 4, out

    code, out, err = launch_in_new_project(
        capsys, "doctor"
    )  # 4: what setup cannot do: the quota, and the images (build's)
    assert code == 2
    assert [line.split(None, 2)[1] for line in _failed(out)] == ["training", "serving", "quota"], out

    vertex.project.grant(PROJECT, T4_QUOTA, "us-central1", 1)  # 5: the quota granted; build, then train
    assert launch_in_new_project(capsys, "build")[0] == 0
    _built(vertex, calls)
    code, out, err = launch_in_new_project(capsys, "doctor")
    assert code == 0 and _failed(out) == [] and out.rstrip().endswith("doctor: ready for a job"), out
    code, out, err = launch_in_new_project(capsys, "train", *TRAIN)
    assert code == 0, err
    output = vertex.local_path(re.search(r"^outputs: (\S+)", out, re.M).group(1))
    assert (output / "model" / "saved_model.pb").is_file()
    assert f"data: downloading {PROJECT_BUCKET}/mnist/train-images-idx3-ubyte.gz" in (output / "job.log").read_text()

    models = context / "trainer" / "models.py"  # 6: an edit makes the image stale
    models.write_text(models.read_text() + "\n# edited after the build\n")
    sent = len(vertex.requests)
    code, out, err = launch_in_new_project(capsys, "train", *TRAIN)
    assert (
        code == 2
        and err
        == f"error: the training image for this source ({source.tag('Dockerfile')}) is not built: ./submit.sh build\n"
    )
    assert len(vertex.requests) == sent
    assert launch_in_new_project(capsys, "build")[0] == 0
    _built(vertex, calls)
    builds = len(calls.read_text().splitlines())
    code, out, err = launch_in_new_project(capsys, "doctor")
    assert code == 0, out

    code, out, err = launch_in_new_project(capsys, "build")  # 7: nothing changed, nothing built
    assert code == 0 and out.startswith("already built from this source: ")
    assert len(calls.read_text().splitlines()) == builds
