"""The tuning study: hptuning.yaml as gcloud reads it, trials sampled from it, and the metric each trial reported."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import yaml

from trainer.submit.settings import SubmitError


def load_study(path: Path):
    """hptuning.yaml in the format `gcloud ai hp-tuning-jobs create --config` reads, checked against the
    API's own message types (unknown fields are errors) and the trainer's flags.
    Returns (aiplatform_v1.StudySpec, aiplatform_v1.CustomJobSpec)."""
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    from trainer import config

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SubmitError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise SubmitError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(doc, dict) or set(doc) != {"studySpec", "trialJobSpec"}:
        raise SubmitError(f"{path}: expected exactly the keys studySpec and trialJobSpec")
    try:
        study = aiplatform_v1.StudySpec.from_json(json.dumps(doc["studySpec"]))
        trial_spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(doc["trialJobSpec"]))
    except json_format.ParseError as e:
        raise SubmitError(f"{path}: {' '.join(str(e).split())}") from None
    flags = config.trainer_flags()
    for parameter in study.parameters:
        if f"--{parameter.parameter_id}" not in flags:
            raise SubmitError(
                f"{path}: parameter {parameter.parameter_id!r} is not a trainer flag (--{parameter.parameter_id})"
            )
    if len(study.metrics) != 1:
        raise SubmitError(f"{path}: the study needs exactly one metric")
    return study, trial_spec


def _value_spec(parameter) -> str:
    """Which of the parameter's value specs is set: double_value_spec, integer_value_spec, ..."""
    return type(parameter).pb(parameter).WhichOneof("parameter_value_spec")


def sdk_parameter_specs(study) -> dict:
    """The study's parameters as the SDK's parameter specs."""
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    scales = {
        "UNIT_LINEAR_SCALE": "linear",
        "UNIT_LOG_SCALE": "log",
        "UNIT_REVERSE_LOG_SCALE": "reverse_log",
        "SCALE_TYPE_UNSPECIFIED": "unspecified",
    }  # the SDK's names for the API's scale types
    specs = {}
    for p in study.parameters:
        scale = scales[p.scale_type.name]
        kind = _value_spec(p)
        if kind == "double_value_spec":
            specs[p.parameter_id] = hpt.DoubleParameterSpec(
                min=p.double_value_spec.min_value, max=p.double_value_spec.max_value, scale=scale
            )
        elif kind == "integer_value_spec":
            specs[p.parameter_id] = hpt.IntegerParameterSpec(
                min=p.integer_value_spec.min_value, max=p.integer_value_spec.max_value, scale=scale
            )
        elif kind == "discrete_value_spec":
            specs[p.parameter_id] = hpt.DiscreteParameterSpec(values=list(p.discrete_value_spec.values), scale=scale)
        else:
            specs[p.parameter_id] = hpt.CategoricalParameterSpec(values=list(p.categorical_value_spec.values))
    return specs


def sample_trials(study, count: int, seed: int = 0) -> list[dict[str, str]]:
    """Random search over the study's parameters, as flag values (log scales sampled log-uniformly)."""
    from google.cloud import aiplatform_v1

    log = aiplatform_v1.StudySpec.ParameterSpec.ScaleType.UNIT_LOG_SCALE
    rng = random.Random(seed)
    trials = []
    for _ in range(count):
        values = {}
        for p in study.parameters:
            kind = _value_spec(p)
            if kind in ("double_value_spec", "integer_value_spec"):
                spec = getattr(p, kind)
                lo, hi = spec.min_value, spec.max_value
                x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if p.scale_type == log else rng.uniform(lo, hi)
                values[p.parameter_id] = f"{x:.6g}" if kind == "double_value_spec" else str(round(x))
            elif kind == "discrete_value_spec":
                values[p.parameter_id] = f"{rng.choice(list(p.discrete_value_spec.values)):g}"
            else:
                values[p.parameter_id] = rng.choice(list(p.categorical_value_spec.values))
        trials.append(values)
    return trials


def read_metric(path: Path, tag: str) -> float | None:
    """The last value the trial reported under `tag` in its cloudml-hypertune file."""
    if not path.exists():
        return None
    values = [float(entry[tag]) for line in path.read_text().splitlines() if tag in (entry := json.loads(line))]
    return values[-1] if values else None


def chief_metric_file(output_dir: Path) -> Path:
    """Where a local job's chief writes its tuning metric (CLOUD_ML_HP_METRIC_FILE)."""
    return output_dir / "hypertune" / "workerpool0-0.metrics"
