"""The tuning study as the user wrote it: every studySpec field reaches the request, hptuning.yaml is read
as gcloud's --config reads it, and what cannot be sent is an error, never dropped."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import CLOUD, GOOD_STUDY, REPO
from google.cloud import aiplatform_v1

from trainer.submit import cli, source
from trainer.submit import study as studies

SOURCE = source.tag("Dockerfile").removeprefix("src-")  # a job's label: the source its image was built from

pytestmark = pytest.mark.usefixtures("clean_settings")
SHIPPED = yaml.safe_load(GOOD_STUDY)


def _config(tmp_path, **study_fields) -> tuple[list[str], aiplatform_v1.StudySpec]:
    """hptuning.yaml with these studySpec fields instead of its stopping rule; the flags and the study expected."""
    doc = json.loads(json.dumps(SHIPPED))
    doc["studySpec"].pop("medianAutomatedStoppingSpec")
    doc["studySpec"].update(study_fields)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    return ["--config", str(path)], aiplatform_v1.StudySpec.from_json(json.dumps(doc["studySpec"]))


STUDIES = {
    "median-stopping": {"medianAutomatedStoppingSpec": {"useElapsedDuration": True}},
    "decay-curve-stopping": {"decayCurveStoppingSpec": {"useElapsedDuration": False}},
    "convex-automated-stopping": {
        "convexAutomatedStoppingSpec": {
            "maxStepCount": "10",
            "minStepCount": "3",
            "minMeasurementCount": "2",
            "learningRateParameterName": "learning-rate",
        }
    },
    "study-stopping-config": {"studyStoppingConfig": {"shouldStopAsap": False, "maxNumTrialsNoProgress": 6}},
    "grid-search": {  # over discrete, integer and categorical parameters only (test_study_rules.py)
        "algorithm": "GRID_SEARCH",
        "parameters": [
            {"parameterId": "batch-size", "discreteValueSpec": {"values": [32, 64]}},
            {"parameterId": "epochs", "integerValueSpec": {"minValue": "2", "maxValue": "3"}},
            {"parameterId": "stage", "categoricalValueSpec": {"values": ["conv", "batchnorm"]}},
        ],
    },
    "random-search": {"algorithm": "RANDOM_SEARCH"},  # observationNoise is refused (test_study_rules.py)
    "default-algorithm": {"algorithm": "ALGORITHM_UNSPECIFIED", "measurementSelectionType": "BEST_MEASUREMENT"},
}


@pytest.mark.parametrize("fields", list(STUDIES.values()), ids=list(STUDIES))
def test_the_dry_run_and_the_server_both_get_the_study_as_written(fields, vertex, tmp_path, capsys):
    flags, expected = _config(tmp_path, **fields)
    assert cli.main(["tune", *CLOUD, *flags, "--dry-run"]) == 0
    printed = aiplatform_v1.HyperparameterTuningJob.from_json(capsys.readouterr().out, ignore_unknown_fields=False)
    assert printed.study_spec == expected
    vertex.fail_next(400, "INVALID_ARGUMENT", "received; no need to run it")  # the fake records, then refuses
    assert cli.main(["tune", *CLOUD, *flags, "--api-endpoint", vertex.endpoint]) == 2
    _, body = vertex.requests[-1]
    sent = aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert sent.study_spec == expected


def test_the_shipped_study_stops_early_and_gives_each_trial_an_output_folder():
    tuning = studies.load_config(REPO / "hptuning.yaml")
    assert "median_automated_stopping_spec" in tuning.study_spec
    assert tuning.trial_job_spec.base_output_directory.output_uri_prefix.startswith("gs://")
    assert (tuning.display_name, tuning.max_trial_count, tuning.parallel_trial_count) == ("mnist-tune", 20, 5)


def test_gcloud_config_keys_are_read_and_flags_override_them(tmp_path, capsys):
    doc = {
        **SHIPPED,
        "maxTrialCount": 7,
        "parallelTrialCount": 2,
        "maxFailedTrialCount": 3,
        "labels": {"team": "mnist"},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert cli.main(["tune", *CLOUD, "--config", str(path), "--dry-run"]) == 0
    job = aiplatform_v1.HyperparameterTuningJob.from_json(capsys.readouterr().out, ignore_unknown_fields=False)
    assert (job.max_trial_count, job.parallel_trial_count, job.max_failed_trial_count) == (7, 2, 3)
    assert dict(job.labels) == {
        "team": "mnist",
        "tool": "mnist-vertex-trainer",
        "source": SOURCE,
    } and job.display_name.startswith("mnist-tune-")
    assert (
        cli.main(["tune", *CLOUD, "--config", str(path), "--dry-run", "--max-trials", "4", "--display-name", "mine"])
        == 0
    )
    job = aiplatform_v1.HyperparameterTuningJob.from_json(capsys.readouterr().out, ignore_unknown_fields=False)
    assert (job.max_trial_count, job.parallel_trial_count, job.display_name) == (4, 2, "mine")


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"state": "JOB_STATE_SUCCEEDED"}, "state: not a field gcloud's --config takes"),
        ({"studySpec": {**SHIPPED["studySpec"], "earlyStopping": True}}, 'no field named "earlyStopping"'),
    ],
)
def test_a_field_that_cannot_be_sent_is_an_error_naming_it(extra, message, tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**SHIPPED, **extra}))
    assert cli.main(["tune", *CLOUD, "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: ") and message in err[0]


def test_a_study_file_named_with_a_line_break_is_named_quoted_on_one_line(tmp_path, capsys):
    """The backstop in cli would fold the break into a space, naming a file that does not exist; the name is
    quoted instead, as the trainer quotes its flags' values."""
    folder = tmp_path / "runs\nold"
    folder.mkdir()
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({**SHIPPED, "state": "JOB_STATE_SUCCEEDED"}))
    assert cli.main(["tune", *CLOUD, "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {str(path)!r}: state: not a field gcloud's --config takes ({', '.join(sorted(studies.CONFIG_FIELDS))})"
    ]
