"""The tuning study: hptuning.yaml as gcloud reads it, the metric each trial reports, and the best trial's line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from trainer import config, values
from trainer.submit.errors import SubmitError

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
    where = values.shown(str(path))  # the user's file name, quoted if it would break the error's one line
    try:
        doc = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:  # before ValueError, of which it is one
        raise SubmitError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte, which no path can hold
        raise SubmitError(f"{where}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise SubmitError(f"{where}: not valid YAML ({' '.join(str(e).split())[:300]})") from None
    if not isinstance(doc, dict) or not {"studySpec", "trialJobSpec"} <= set(doc):
        raise SubmitError(f"{where}: expected a studySpec and a trialJobSpec")
    unknown = sorted(map(str, set(doc) - CONFIG_FIELDS))
    if unknown:
        raise SubmitError(
            f"{where}: {', '.join(unknown)}: not a field gcloud's --config takes ({', '.join(sorted(CONFIG_FIELDS))})"
        )
    try:  # YAML's dates and other scalars as the strings JSON would carry; the message types judge them
        job = aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(doc, default=str), ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
        raise SubmitError(f"{where}: {' '.join(str(e).split())[:300]}") from None
    flags = config.trainer_flags()
    for parameter in all_parameters(job.study_spec):
        if f"--{parameter.parameter_id}" not in flags:
            raise SubmitError(
                f"{where}: parameter {parameter.parameter_id!r} is not a trainer flag (--{parameter.parameter_id})"
            )
    if len(job.study_spec.metrics) != 1:
        raise SubmitError(f"{where}: the study needs exactly one metric")
    return job


def all_parameters(study) -> list:
    """The study's ParameterSpecs, each followed by those conditional on it (conditionalParameterSpecs), at any depth."""

    def below(parameters) -> list:
        return [q for p in parameters for q in (p, *below([c.parameter_spec for c in p.conditional_parameter_specs]))]

    return below(study.parameters)


def value_spec(parameter) -> str:
    """Which of the parameter's value specs is set: double_value_spec, integer_value_spec, ..."""
    return type(parameter).pb(parameter).WhichOneof("parameter_value_spec")


def has_field(message, name: str) -> bool:
    """Whether the aiplatform_v1 message has its optional field or message `name` set: proto-plus answers a
    message field unset with an empty one, so ask the protobuf underneath."""
    return type(message).pb(message).HasField(name)


def flag_values(params: dict) -> dict[str, str]:
    """Sampled parameters as the trainer's flag values (64.0 -> 64, 0.0123456789 -> 0.0123457)."""
    return {name: f"{value:.6g}" if isinstance(value, float) else str(value) for name, value in params.items()}


def reports(path: Path, tag: str) -> list[tuple[int, float]]:
    """What a trial reported under `tag` in its cloudml-hypertune file, in order: (epoch, value) pairs. The
    last is its final measurement (the final evaluation repeats the last epoch's number)."""
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [(int(entry["global_step"]), float(entry[tag])) for entry in entries if tag in entry]


def chief_metric_file(output_dir: Path) -> Path:
    """Where a local job's chief writes its tuning metric (CLOUD_ML_HP_METRIC_FILE)."""
    return output_dir / "hypertune" / "workerpool0-0.metrics"


def best_line(trial_id: str, metric_id: str, value: float, flags: dict[str, str]) -> str:
    """The line that ends a sweep, on Vertex AI or here: the best trial, its metric and its flags."""
    return f"best: trial {trial_id}, {metric_id} {value:.4f}, {' '.join(f'--{k}={v}' for k, v in flags.items())}"
