"""deploy serves with this project's own image by default; a prebuilt TensorFlow image given as --serving-image
is refused past its end of availability and warned about within 90 days of it (trainer/submit/prebuilt.py)."""

from __future__ import annotations

import datetime

import pytest
from conftest import CLOUD, run_in_process

from trainer.submit import cli, prebuilt
from trainer.submit.errors import SubmitError

pytestmark = pytest.mark.usefixtures("clean_settings")
TF215 = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
ENDS = datetime.date(2027, 1, 14)


def test_the_table_has_every_tensorflow_2_14_and_2_15_image_ending_on_2027_01_14():
    assert prebuilt.END_OF_AVAILABILITY == {
        f"tf2-{kind}.2-{minor}": ENDS for kind in ("cpu", "gpu") for minor in (14, 15)
    }


@pytest.mark.parametrize(
    "today, outcome",
    [(ENDS - datetime.timedelta(days=91), None), (ENDS - datetime.timedelta(days=90), "warning"),
     (ENDS, "warning"), (ENDS + datetime.timedelta(days=1), "refused")],
    ids=["91-days-before", "90-days-before", "the-last-day", "the-day-after"],
)  # fmt: skip
def test_a_prebuilt_image_is_warned_about_within_90_days_and_refused_after(today, outcome):
    if outcome == "refused":
        with pytest.raises(SubmitError, match=r"Vertex AI stopped offering tf2-cpu.2-15 on 2027-01-14"):
            prebuilt.check(TF215, today)
    else:
        warning = prebuilt.check(TF215, today)
        assert (warning is not None) == (outcome == "warning")
    assert prebuilt.check("us-central1-docker.pkg.dev/p/mnist/mnist-serving:latest", today) is None  # ours


def test_deploy_refuses_a_retired_prebuilt_image_before_anything_is_sent(vertex, capsys, monkeypatch):
    monkeypatch.setitem(prebuilt.END_OF_AVAILABILITY, "tf2-cpu.2-15", datetime.date.today() - datetime.timedelta(1))
    before = (len(vertex.serving.models), len(vertex.serving.endpoints))
    argv = ["deploy", *CLOUD, "--api-endpoint", vertex.endpoint, "--model-dir", "gs://demo-bucket/x/model",
            "--serving-image", TF215]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --serving-image" in err and "stopped offering tf2-cpu.2-15" in err
    assert (len(vertex.serving.models), len(vertex.serving.endpoints)) == before


def test_deploy_warns_about_a_prebuilt_image_within_90_days_and_still_deploys_with_it(vertex, capsys, monkeypatch):
    monkeypatch.setitem(prebuilt.END_OF_AVAILABILITY, "tf2-cpu.2-15", datetime.date.today() + datetime.timedelta(30))
    job = vertex.local_path("gs://demo-bucket/warned")
    assert run_in_process("--stage", "softmax", "--smoke", "--no-plots", "--job-dir", str(job)).returncode == 0
    argv = ["deploy", *CLOUD, "--api-endpoint", vertex.endpoint, "--model-dir", "gs://demo-bucket/warned/model",
            "--serving-image", TF215, "--model-name", "warned", "--endpoint-name", "warned"]  # fmt: skip
    assert cli.main(argv) == 0
    assert "warning: --serving-image tf2-cpu.2-15 ends its availability on" in capsys.readouterr().err
    (versions,) = [v for v in vertex.serving.models.values() if v[0].display_name == "warned"]
    assert versions[0].container_spec.image_uri == TF215
