"""From a trained model to predictions and back: the real aiplatform client against the fake Vertex AI API, which
really serves the uploaded SavedModel (test_job_logs.py has a failed job's logs)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_TEST_IMAGES, fake_cloud, launch
from PIL import Image

from trainer import data, predict
from trainer.submit import cli, serve_local
from trainer.submit.errors import SubmitError
from trainer.submit.settings import settings

pytestmark = pytest.mark.usefixtures("clean_settings")
JOB = ["--machine-type", "n1-standard-4", "--accelerator-count", "0"]
DIGITS = 400  # real test digits: more than one request's worth (about 350 fit in 1.5 MB as float32 b64)


def _named(resources: dict, name: str = "mnist") -> list:
    """This module's models or endpoints (display name mnist): other modules share the session's fake."""
    return [r for r in resources.values() if (r[0] if isinstance(r, list) else r).display_name == name]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """The first test digits as an IDX file, one of them as a PNG and two as JSON lines, the three kinds
    `trainer.predict` reads."""
    folder = tmp_path_factory.mktemp("inputs")
    images = data.read_images(SAMPLE_TEST_IMAGES)[:DIGITS]
    idx = folder / "digits-idx3-ubyte.gz"
    idx.write_bytes(gzip.compress(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes()))
    png = folder / "seven.png"
    Image.fromarray(images[0]).save(png)
    jsonl = folder / "two.jsonl"
    jsonl.write_text("".join(json.dumps({"image": (im / 255.0).tolist()}) + "\n" for im in images[1:3]))
    return [idx, png, jsonl]


@pytest.fixture(scope="session")
def deployed(vertex):
    """`train --deploy`: a job trained by the fake, then its model uploaded and deployed. Once per worker, as the
    fake is: worksteal can bring a worker back to a module, and a module fixture would then be set up again. No
    test changes it, so the tests that read it pass in any order."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    argv = [
        "train",
        *fake_cloud(vertex),
        "--display-name",
        "serve-job",
        *JOB,
        "--deploy",
        "--stage",
        "dense",
        "--smoke",
    ]
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    assert code == 0, err.getvalue()
    (endpoint,) = _named(vertex.serving.endpoints)
    return endpoint, out.getvalue()


def test_train_deploy_uploads_the_model_and_deploys_it_with_all_the_traffic(vertex, deployed):
    endpoint, printed = deployed
    (versions,) = _named(vertex.serving.models)
    assert [m.version_id for m in versions] == ["1"]
    assert versions[0].artifact_uri == "gs://demo-bucket/serve-job/model"
    # this source's serving image, by the digest its tag pointed to in the registry
    serving = settings({}, {"PROJECT_ID": "demo-project"}, need_bucket=False).image_uri("serving")
    digest = vertex.registry.push(serving)  # the same push again: the same digest
    assert versions[0].container_spec.image_uri == f"{serving.rsplit(':', 1)[0]}@{digest}"
    (model,) = endpoint.deployed_models
    assert model.dedicated_resources.machine_spec.machine_type == "n1-standard-2"
    assert dict(endpoint.traffic_split) == {model.id: 100}
    endpoint_id = endpoint.name.rsplit("/", 1)[-1]
    assert "version 1 (from gs://demo-bucket/serve-job/model)" in printed
    assert f"./submit.sh predict --project demo-project --region us-central1 --endpoint {endpoint_id} FILE" in printed
    assert f"./submit.sh undeploy --project demo-project --region us-central1 --endpoint {endpoint_id}" in printed


def test_predict_on_the_endpoint_prints_what_trainer_predict_prints_for_the_same_model(
    vertex, deployed, inputs, capsys
):
    endpoint, _ = deployed
    requests_before = len(vertex.serving.predict_requests)
    code, out, err = launch(capsys, "predict", *fake_cloud(vertex), "--endpoint", endpoint.name, *map(str, inputs))
    assert code == 0, err
    model_dir = vertex.local_path("gs://demo-bucket/serve-job/model")
    assert predict.main(["--model-dir", str(model_dir), *map(str, inputs)]) == 0
    assert out == capsys.readouterr().out
    assert len(out.splitlines()) == DIGITS + 1 + 2
    requests = vertex.serving.predict_requests[requests_before:]
    assert sum(n for n, _ in requests) == DIGITS + 1 + 2
    assert len(requests) > 3  # the IDX file's 400 digits need more than one request
    assert max(size for _, size in requests) <= 1_500_000  # Vertex AI's online prediction limit


def test_a_second_deploy_makes_version_2_then_undeploy_removes_the_models_and_delete_endpoint_the_endpoint(
    vertex, deployed, capsys
):
    """Under names of its own (the trained model deployed twice), so that it leaves the endpoint the other tests read
    as it was, in whatever order a worker runs them; one test, in this order, as each worker has its own fake."""
    names = ["--model-name", "lifecycle", "--endpoint-name", "lifecycle"]
    argv = ["deploy", *fake_cloud(vertex), "--model-dir", "gs://demo-bucket/serve-job/model", *names]
    assert launch(capsys, *argv)[0] == 0
    (endpoint,) = _named(vertex.serving.endpoints, "lifecycle")
    code, out, err = launch(capsys, *argv, "--max-replicas", "2")
    assert code == 0, err
    (versions,) = _named(vertex.serving.models, "lifecycle")
    assert [m.version_id for m in versions] == ["1", "2"]
    assert _named(vertex.serving.endpoints, "lifecycle") == [endpoint]  # the endpoint of that name, reused
    (model,) = endpoint.deployed_models  # version 1 undeployed: with no traffic it would still be billed
    assert (model.model_version_id, model.dedicated_resources.max_replica_count) == ("2", 2)
    assert dict(endpoint.traffic_split) == {model.id: 100}
    assert "version 2" in out

    code, out, err = launch(capsys, "undeploy", *fake_cloud(vertex), "--endpoint", endpoint.name.rsplit("/", 1)[-1])
    assert code == 0, err
    assert not endpoint.deployed_models and "undeployed: lifecycle-v2" in out
    code, out, err = launch(capsys, "undeploy", *fake_cloud(vertex), "--endpoint", endpoint.name, "--delete-endpoint")
    assert code == 0, err
    assert not _named(vertex.serving.endpoints, "lifecycle") and f"deleted: {endpoint.name}" in out
    assert deployed[0].deployed_models and _named(vertex.serving.endpoints) == [deployed[0]]  # untouched


@pytest.mark.parametrize(
    "argv, message",
    [
        (["deploy", "--model-dir", "gs://demo-bucket/no-such-job/model"], "no saved_model.pb there"),
        (["deploy", "--model-dir", "runs/local/model"], "must be a model folder in Cloud Storage"),
        (["deploy", "--model-dir", "runs/a\nb/model"], "--model-dir 'runs/a\\nb/model': must be a model folder"),
        (["deploy", "--model-dir", "gs://demo-bucket/m", "--min-replicas", "2", "--max-replicas", "1"], "1 <= min"),
        (["deploy", "--model-dir", "gs://demo-bucket/m", "--endpoint", "4242"], "--endpoint 4242: no such endpoint"),
        (["predict", "--endpoint", "4242", "BAD_SHAPE"], "image has shape [2, 2], expected [28, 28]"),
        (["predict", "--endpoint", "4242", "DIGIT"], "--endpoint 4242: no such endpoint"),
        (["undeploy", "--endpoint", "4242"], "--endpoint 4242: no such endpoint"),
        (["logs", "4242"], "4242: no such training or tuning job"),
        (["train", "--deploy", "--no-wait", "--smoke"], "--deploy needs train to wait for the job"),
        (["deploy", "--model-dir", "gs://demo-bucket/serve-job/model", "--dry-run"], "--dry-run: ./submit.sh deploy"),
        (["train", "--deploy", "--min-replicas", "0", "--smoke"], "argument --min-replicas: must be at least 1, got 0"),
    ],
)
def test_bad_serving_input_gives_one_line_and_creates_nothing(vertex, tmp_path, capsys, argv, message):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"image": [[0, 1], [1, 0]]}) + "\n")
    (tmp_path / "digit.jsonl").write_text(json.dumps({"image": np.zeros((28, 28)).tolist()}) + "\n")
    files = {"BAD_SHAPE": str(tmp_path / "bad.jsonl"), "DIGIT": str(tmp_path / "digit.jsonl")}
    state = lambda: (len(vertex.serving.models), len(vertex.serving.endpoints), len(vertex.serving.predict_requests),  # noqa: E731
                     len(vertex.jobs))  # fmt: skip
    before = state()
    code, out, err = launch(capsys, argv[0], *fake_cloud(vertex), *[files.get(a, a) for a in argv[1:]])
    assert (code, len(err.splitlines())) == (2, 1), err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in out + err
    assert state() == before


def test_serve_local_names_a_folder_with_a_line_break_quoted_on_one_line(tmp_path):
    """serve-local refuses a folder with no SavedModel before podman is asked; the name is the user's, any text."""
    folder = tmp_path / "runs\nold"
    folder.mkdir()
    with pytest.raises(SubmitError) as refused:
        serve_local.check_saved_model(folder)
    assert str(refused.value).startswith(f"--model-dir {str(folder)!r}: no saved_model.pb there; ")


def test_serve_local_given_a_jobs_folder_names_its_export(tmp_path):
    """The mistake most made: JOB_DIR for JOB_DIR/model; the line names the folder to pass."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(SubmitError) as refused:
        serve_local.check_saved_model(tmp_path)
    assert (
        str(refused.value) == f"--model-dir {tmp_path}: a job's folder, whose export is {tmp_path / 'model'}: pass that"
    )
