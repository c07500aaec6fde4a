"""A sweep that cannot succeed is refused before it costs anything: `./submit.sh tune --dry-run --config
VARIANT.yaml` on variants of the shipped hptuning.yaml, each one line naming the parameter and the rule, exit 2,
nothing printed or sent; and every trial reports under the study's metricId."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from conftest import CLOUD, GOOD_STUDY, REPO

from trainer.submit import cli, sweep

pytestmark = pytest.mark.usefixtures("clean_settings")
SHIPPED = yaml.safe_load(GOOD_STUDY)


def _param(study: dict, name: str) -> dict:
    return next(p for p in study["parameters"] if p["parameterId"] == name)


def _variant(edit, part: str = "studySpec") -> dict:
    """The shipped study with EDIT applied to one of its parts."""
    doc = copy.deepcopy(SHIPPED)
    edit(doc[part])
    return doc


def _refused(tmp_path, capsys, name: str, doc: dict) -> str:
    """tune --dry-run on DOC as NAME.yaml: exit 2, nothing sent or printed, one line of stderr, returned."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert cli.main(["tune", *CLOUD, "--dry-run", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    return err.strip()


CONDITIONAL_SEED = {"parameterSpec": {"parameterId": "seed", "integerValueSpec": {"minValue": -1, "maxValue": 3}},
                    "parentDiscreteValues": {"values": [32]}}  # fmt: skip
VARIANTS = {
    "metric-loss": (lambda s: s["metrics"][0].update(metricId="val_loss", goal="MINIMIZE"),
                    "metricId 'val_loss': the trainer reports validation accuracy only"),
    "goal-minimize": (lambda s: s["metrics"][0].update(goal="MINIMIZE"),
                      "metric 'accuracy' has goal MINIMIZE: the trainer reports validation accuracy, which must be maximised"),
    "dropout-past-1": (lambda s: _param(s, "dropout")["doubleValueSpec"].update(maxValue=1.5),
                       "parameter dropout can be 1.5, which the trainer refuses (argument --dropout: must be between 0 and 1, got 1.5)"),
    "stage-bogus": (lambda s: s["parameters"].append({"parameterId": "stage", "categoricalValueSpec": {"values": ["batchnorm", "bogus"]}}),
                    "parameter stage can be bogus, which the trainer refuses (argument --stage: unknown stage 'bogus'"),
    "log-scale-from-0": (lambda s: _param(s, "learning-rate")["doubleValueSpec"].update(minValue=0),
                         "parameter learning-rate: UNIT_LOG_SCALE needs a strictly positive range, and it reaches 0"),
    "discrete-unsorted": (lambda s: _param(s, "batch-size")["discreteValueSpec"].update(values=[64, 32, 128]),
                          "parameter batch-size: discrete values [64.0, 32.0, 128.0] must be increasing and at least 1e-10 apart"),
    "discrete-1001": (lambda s: _param(s, "batch-size")["discreteValueSpec"].update(values=list(range(1, 1002))),
                      "parameter batch-size: 1001 discrete values; Vertex AI takes at most 1,000"),
    "categorical-scaled": (lambda s: s["parameters"].append({"parameterId": "stage", "categoricalValueSpec": {"values": ["conv"]},
                                                             "scaleType": "UNIT_LINEAR_SCALE"}),
                           "parameter stage: a categorical parameter takes no scaleType"),
    "grid-over-doubles": (lambda s: s.update(algorithm="GRID_SEARCH"),
                          "parameter learning-rate: GRID_SEARCH needs discrete, integer or categorical parameters"),
    "two-stopping-specs": (lambda s: s.update(decayCurveStoppingSpec={"useElapsedDuration": False}),
                           "automated_stopping_spec"),
    "observation-noise": (lambda s: s.update(observationNoise="HIGH"),
                          "studySpec.observationNoise is not supported by HyperparameterTuningJob"),
    "default-value": (lambda s: _param(s, "dropout")["doubleValueSpec"].update(defaultValue=0.2),
                      "parameter dropout: defaultValue is not supported by HyperparameterTuningJob"),
    "conditional-value-refused": (lambda s: _param(s, "batch-size").update(conditionalParameterSpecs=[CONDITIONAL_SEED]),
                                  "parameter seed can be -1, which the trainer refuses (argument --seed: must be between 0"),
    "conditional-not-a-flag": (lambda s: _param(s, "batch-size").update(conditionalParameterSpecs=[{**CONDITIONAL_SEED, "parameterSpec": {"parameterId": "nope", "integerValueSpec": {"minValue": 1, "maxValue": 2}}}]),
                               "parameter 'nope' is not a trainer flag (--nope)"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_study_that_cannot_succeed_is_one_line_and_nothing_is_sent(name, tmp_path, capsys):
    edit, message = VARIANTS[name]
    line = _refused(tmp_path, capsys, name, _variant(edit))
    assert message in line, line


def test_every_trial_reports_under_the_studys_metric_id(tmp_path, capsys):
    doc = _variant(lambda s: s["metrics"][0].update(metricId="digit_accuracy"))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(doc))
    assert cli.main(["tune", *CLOUD, "--dry-run", "--config", str(tmp_path / "study.yaml")]) == 0
    job = json.loads(capsys.readouterr().out)
    args = job["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert (
        "--hypertune-metric=digit_accuracy" in args and job["studySpec"]["metrics"][0]["metricId"] == "digit_accuracy"
    )


def test_a_trial_flag_naming_another_metric_is_refused(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(SHIPPED))
    argv = ["tune", *CLOUD, "--dry-run", "--config", str(tmp_path / "study.yaml"), "--hypertune-metric=acuracy"]
    assert cli.main(argv) == 2
    assert "report --hypertune-metric=acuracy but the study's metricId is 'accuracy'" in capsys.readouterr().err


def test_the_shipped_study_passes_every_check(capsys):
    assert cli.main(["tune", *CLOUD, "--dry-run", "--config", str(REPO / "hptuning.yaml")]) == 0


TRIAL_FIELDS = {
    "env": (lambda t: t["workerPoolSpecs"][0]["containerSpec"].update(env=[{"name": "A", "value": "b"}]),
            "trialJobSpec.workerPoolSpecs[0].containerSpec.env is not carried by this tool"),
    "boot-disk": (lambda t: t["workerPoolSpecs"][0].update(diskSpec={"bootDiskSizeGb": 500}),
                  "trialJobSpec.workerPoolSpecs[0].diskSpec is not carried by this tool"),
    "restart": (lambda t: t.update(scheduling={"restartJobOnWorkerRestart": True}),
                "trialJobSpec.scheduling.restartJobOnWorkerRestart is not carried by this tool"),
    "network": (lambda t: t.update(network="projects/1/global/networks/n"), "trialJobSpec.network is not carried"),
    "timeout-31-days": (lambda t: t.update(scheduling={"timeout": f"{31 * 86400}s"}),
                        "trialJobSpec.scheduling.timeout 2678400s: not a duration from 1s to 30d"),
    "account": (lambda t: t.update(serviceAccount="me"), "trialJobSpec.serviceAccount me: not a service account's email"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TRIAL_FIELDS))
def test_a_trial_field_the_tool_would_drop_or_cannot_send_is_one_line(name, tmp_path, capsys):
    """Was: dropped without a word (a one-hour trial timeout became 24 hours, an env or a disk vanished)."""
    edit, message = TRIAL_FIELDS[name]
    line = _refused(tmp_path, capsys, name, _variant(edit, "trialJobSpec"))
    assert line.startswith(f"error: {tmp_path / name}.yaml: {message}"), line


def test_the_files_trial_timeout_and_service_account_are_sent_unless_a_flag_says_otherwise(tmp_path, capsys):
    account = "trainer@demo-project.iam.gserviceaccount.com"
    doc = _variant(lambda t: t.update(scheduling={"timeout": "3600s"}, serviceAccount=account), "trialJobSpec")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(doc))
    argv = ["tune", *CLOUD, "--dry-run", "--config", str(tmp_path / "study.yaml")]
    assert cli.main(argv) == 0
    spec = json.loads(capsys.readouterr().out)["trialJobSpec"]
    assert (spec["scheduling"]["timeout"], spec["serviceAccount"]) == ("3600s", account)
    other = "other@demo-project.iam.gserviceaccount.com"
    assert cli.main([*argv, "--timeout", "2h", "--service-account", other]) == 0
    spec = json.loads(capsys.readouterr().out)["trialJobSpec"]
    assert (spec["scheduling"]["timeout"], spec["serviceAccount"]) == ("7200s", other)


LOCAL_VARIANTS = {
    "decay-curve": (lambda s: (s.pop("medianAutomatedStoppingSpec"), s.update(decayCurveStoppingSpec={})),
                    "studySpec.decayCurveStoppingSpec: tune --local stops trials by Vertex AI's median rule only (medianAutomatedStoppingSpec)"),
    "median-by-time": (lambda s: s["medianAutomatedStoppingSpec"].update(useElapsedDuration=True),
                       "studySpec.medianAutomatedStoppingSpec.useElapsedDuration: tune --local compares trials epoch by epoch"),
    "safety-metric": (lambda s: s["metrics"][0].update(safetyConfig={"safetyThreshold": 0.5}),
                      "metric accuracy: safetyConfig: tune --local has no safe search"),
    "conditional": (lambda s: _param(s, "batch-size").update(conditionalParameterSpecs=[{**CONDITIONAL_SEED, "parameterSpec": {"parameterId": "seed", "integerValueSpec": {"minValue": 1, "maxValue": 3}}}]),
                    "parameter batch-size: conditionalParameterSpecs: tune --local samples every parameter always"),
    "reverse-log": (lambda s: _param(s, "lr-decay").update(scaleType="UNIT_REVERSE_LOG_SCALE"),
                    "parameter lr-decay: UNIT_REVERSE_LOG_SCALE: tune --local samples linear and log scales only"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LOCAL_VARIANTS))
def test_a_study_tune_local_would_run_otherwise_than_vertex_ai_is_refused_there_and_sent_to_the_cloud(
    name, tmp_path, capsys
):
    """Was: the rule or the condition quietly ignored by the local sweep. The cloud's dry run takes the same file."""
    edit, message = LOCAL_VARIANTS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_variant(edit)))
    argv = ["tune", "--local", "--config", str(path), "--max-trials", "1", "--output-dir", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert (
        err
        == f"error: {path}: {message}; run the study in the cloud (tune without --local), or remove it to run here\n"
    )
    assert out == "" and not (tmp_path / "out").exists()
    assert cli.main(["tune", *CLOUD, "--dry-run", "--config", str(path)]) == 0, capsys.readouterr().err


def test_a_local_trial_is_worth_its_last_measurement_or_its_best_as_the_study_selects():
    """StudySpec.measurement_selection_type (was: the last measurement even with BEST_MEASUREMENT)."""
    reports = [(1, 0.91), (2, 0.95), (3, 0.93)]
    assert (sweep.trial_value(reports, False), sweep.trial_value(reports, True)) == (0.93, 0.95)
    assert sweep.trial_value([], True) is None
