"""The tuning study: hptuning.yaml as gcloud reads it, trials sampled from it, and the metric each trial reported."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from trainer.submit.settings import SubmitError

# The fields of a HyperparameterTuningJob that `gcloud ai hp-tuning-jobs create --config` takes from the
# file (the rest are output only); flags given on the command line override them.
CONFIG_FIELDS = {
    "displayName",
    "studySpec",
    "trialJobSpec",
    "maxTrialCount",
    "parallelTrialCount",
    "maxFailedTrialCount",
    "labels",
    "encryptionSpec",
}


def load_config(path: Path):
    """hptuning.yaml as `gcloud ai hp-tuning-jobs create --config` reads it: an aiplatform_v1.HyperparameterTuningJob,
    checked against the API's own message types (unknown fields are errors) and the trainer's flags."""
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    from trainer import config

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SubmitError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise SubmitError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(doc, dict) or not {"studySpec", "trialJobSpec"} <= set(doc):
        raise SubmitError(f"{path}: expected a studySpec and a trialJobSpec")
    if set(doc) - CONFIG_FIELDS:
        raise SubmitError(
            f"{path}: {', '.join(sorted(set(doc) - CONFIG_FIELDS))}: not a field gcloud's --config takes "
            f"({', '.join(sorted(CONFIG_FIELDS))})"
        )
    try:
        job = aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(doc), ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise SubmitError(f"{path}: {' '.join(str(e).split())}") from None
    flags = config.trainer_flags()
    for parameter in job.study_spec.parameters:
        if f"--{parameter.parameter_id}" not in flags:
            raise SubmitError(
                f"{path}: parameter {parameter.parameter_id!r} is not a trainer flag (--{parameter.parameter_id})"
            )
    if len(job.study_spec.metrics) != 1:
        raise SubmitError(f"{path}: the study needs exactly one metric")
    return job


def load_study(path: Path):
    """The study and the trial job spec of hptuning.yaml (see load_config)."""
    job = load_config(path)
    return job.study_spec, job.trial_job_spec


def value_spec(parameter) -> str:
    """Which of the parameter's value specs is set: double_value_spec, integer_value_spec, ..."""
    return type(parameter).pb(parameter).WhichOneof("parameter_value_spec")


def distributions(study) -> dict:
    """The study's parameters as Optuna distributions (UNIT_LOG_SCALE: sampled on a log scale)."""
    import optuna

    found = {}
    for p in study.parameters:
        kind, log = value_spec(p), p.scale_type.name == "UNIT_LOG_SCALE"
        if kind == "double_value_spec":
            spec = p.double_value_spec
            found[p.parameter_id] = optuna.distributions.FloatDistribution(spec.min_value, spec.max_value, log=log)
        elif kind == "integer_value_spec":
            spec = p.integer_value_spec
            found[p.parameter_id] = optuna.distributions.IntDistribution(
                int(spec.min_value), int(spec.max_value), log=log
            )
        else:
            values = p.discrete_value_spec.values if kind == "discrete_value_spec" else p.categorical_value_spec.values
            found[p.parameter_id] = optuna.distributions.CategoricalDistribution(list(values))
    return found


def flag_values(params: dict) -> dict[str, str]:
    """Sampled parameters as the trainer's flag values (64.0 -> 64, 0.0123456789 -> 0.0123457)."""
    return {name: f"{value:.6g}" if isinstance(value, float) else str(value) for name, value in params.items()}


def sample_trials(study, count: int, seed: int = 0) -> list[dict[str, str]]:
    """Random search over the study's parameters (Optuna's RandomSampler), as flag values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [flag_values(sampler.ask(distributions(study)).params) for _ in range(count)]


def read_metric(path: Path, tag: str) -> float | None:
    """The last value the trial reported under `tag` in its cloudml-hypertune file."""
    if not path.exists():
        return None
    values = [float(entry[tag]) for line in path.read_text().splitlines() if tag in (entry := json.loads(line))]
    return values[-1] if values else None


def chief_metric_file(output_dir: Path) -> Path:
    """Where a local job's chief writes its tuning metric (CLOUD_ML_HP_METRIC_FILE)."""
    return output_dir / "hypertune" / "workerpool0-0.metrics"
