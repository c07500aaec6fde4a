"""Images addressed by their source: the tag changes with what goes into the image and with nothing else, `train`
sends the digest the tag points to or refuses a source that is not built, and `build` builds only what is missing.
Against the fake's Artifact Registry (fake_registry.py) through google-cloud-artifact-registry, with `gcloud` a
stand-in on PATH that records what Cloud Build was asked."""

from __future__ import annotations

import json

import pytest
from conftest import CLOUD, REPO, fake_cloud, gcloud_stand_in, one_line, source_copy

from trainer.submit import cli, source
from trainer.submit.errors import SubmitError

QUOTA = (429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/custom_model_training_cpus")
CPU = ["--machine-type", "n1-standard-4", "--accelerator-count", "0", "--display-name", "sourced"]


@pytest.fixture
def context(tmp_path, monkeypatch):
    """A copy of the build context, with a file the images do not take."""
    copy = source_copy(tmp_path, monkeypatch)
    (copy / "tests").mkdir()
    (copy / "tests" / "test_x.py").write_text("x = 1\n")
    return copy


def test_the_tag_changes_with_what_goes_into_the_image_and_with_nothing_else(context):
    before = {kind: source.tag(dockerfile) for kind, dockerfile in source.DOCKERFILES.items()}
    assert before["training"] == source.tag("Dockerfile", REPO)  # the copy is the same source
    assert len(set(before.values())) == 3 and all(t.startswith("src-") and len(t) == 16 for t in before.values())
    (context / "tests" / "test_x.py").write_text("x = 2\n")  # not copied into any image
    (context / "trainer" / "__pycache__").mkdir()
    (context / "trainer" / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"\0")  # .dockerignore'd
    assert {kind: source.tag(f) for kind, f in source.DOCKERFILES.items()} == before
    models = context / "trainer" / "models.py"
    models.write_text(models.read_text() + "\n# an edit\n")
    after = {kind: source.tag(f) for kind, f in source.DOCKERFILES.items()}
    assert all(after[kind] != before[kind] for kind in before)  # every image copies trainer/
    (context / "Dockerfile.serving").write_text((context / "Dockerfile.serving").read_text() + "\n# an edit\n")
    assert source.tag("Dockerfile.serving") != after["serving"] and source.tag("Dockerfile") == after["training"]
    assert "trainer/models.py" in source.files("Dockerfile") and "tests/test_x.py" not in source.files("Dockerfile")


def test_no_dockerfile_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(SubmitError) as refused:
        source.tag("Dockerfile", tmp_path)
    one_line(refused.value)
    assert "pass --image-uri" in str(refused.value)


def test_train_sends_the_digest_of_this_sources_image_and_refuses_a_source_not_built(vertex, context, capsys):
    where = fake_cloud(vertex)
    models = context / "trainer" / "models.py"
    models.write_text(models.read_text() + "\n# edited after the last build\n")
    sent = len(vertex.requests)
    assert cli.main(["train", *where, *CPU, "--smoke"]) == 2
    err = capsys.readouterr().err
    tag = source.tag("Dockerfile")
    assert err == f"error: the training image for this source ({tag}) is not built: ./submit.sh build\n"
    assert len(vertex.requests) == sent  # nothing sent

    uri = f"us-central1-docker.pkg.dev/demo-project/mnist/mnist-trainer:{tag}"
    digest = vertex.registry.push(uri)  # as ./submit.sh build leaves it
    vertex.fail_next(*QUOTA)  # the request is recorded, then refused: no job runs
    assert cli.main(["train", *where, *CPU, "--smoke"]) == 2
    out = capsys.readouterr().out
    collection, body = vertex.requests[-1]
    (pool,) = body["jobSpec"]["workerPoolSpecs"]
    pinned = f"us-central1-docker.pkg.dev/demo-project/mnist/mnist-trainer@{digest}"  # the digest alone
    assert collection == "customJobs" and pool["containerSpec"]["imageUri"] == pinned
    assert pool["containerSpec"]["env"] == [{"name": "TRAINER_IMAGE", "value": pinned}]
    assert body["labels"]["source"] == tag.removeprefix("src-") and f"image: {pinned} ({tag})" in out


def test_an_image_given_whole_is_sent_as_given_and_says_the_source_check_was_skipped(vertex, capsys):
    argv = ["train", *CLOUD, "--api-endpoint", vertex.endpoint, *CPU, "--image-uri", "example.com/mine:1", "--smoke",
            "--display-name", "whole"]  # fmt: skip
    assert cli.main([*argv, "--dry-run"]) == 0
    dry = capsys.readouterr()
    vertex.fail_next(*QUOTA)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "image: example.com/mine:1, as given; the source check was skipped" in err
    # The dry run showed the very request sent: its body, and where it went.
    assert vertex.requests[-1] == ("customJobs", json.loads(dry.out))
    assert (
        dry.err
        == f"dry run: nothing sent; this is the body of POST {vertex.endpoint}{vertex.paths[-1].split('?')[0]}\n"
    )
    _, body = vertex.requests[-1]
    assert body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"] == "example.com/mine:1"
    assert "source" not in body["labels"]


@pytest.fixture
def gcloud(tmp_path, monkeypatch):
    return gcloud_stand_in(tmp_path, monkeypatch)


def test_build_builds_a_new_source_once_and_force_builds_it_again(vertex, context, gcloud, monkeypatch, capsys):
    monkeypatch.setenv("VERTEX_API_ENDPOINT", vertex.endpoint)  # the fake serves Artifact Registry too
    models = context / "trainer" / "models.py"
    models.write_text(models.read_text() + "\n# a new source\n")
    training, serving = source.tag("Dockerfile"), source.tag("Dockerfile.serving")
    assert cli.main(["build", "--project", "demo-project"]) == 0
    (call,) = gcloud.read_text().splitlines()
    assert call.startswith("builds submit --project demo-project --region us-central1 --config cloudbuild.yaml")
    assert f"_TAG={training},_SERVING_TAG={serving}" in call
    for name, tag in (("mnist-trainer", training), ("mnist-serving", serving)):  # what the build pushed
        vertex.registry.push(f"us-central1-docker.pkg.dev/demo-project/mnist/{name}:{tag}")
    capsys.readouterr()

    assert cli.main(["build", "--project", "demo-project"]) == 0
    assert capsys.readouterr().out.startswith("already built from this source: ")
    assert len(gcloud.read_text().splitlines()) == 1  # nothing built
    assert cli.main(["build", "--project", "demo-project", "--force"]) == 0
    assert len(gcloud.read_text().splitlines()) == 2
