"""A tuning study checked before it costs anything: a sweep that cannot succeed (a metric the trainer does not
report, a value the trainer refuses, a spec Vertex AI rejects or ignores) is one line and exit 2, before any
trial starts a machine.

Vertex AI's rules come from the API reference of aiplatform_v1.StudySpec (the docstrings of
google/cloud/aiplatform_v1/types/study.py, the same text as cloud.google.com's StudySpec reference).
"""

from __future__ import annotations

import re

from trainer.submit import study as studies
from trainer.submit.errors import SubmitError
from trainer.submit.settings import trainer_refusal

# The trainer reports one thing, validation accuracy, under whatever tag --hypertune-metric names.
NOT_ACCURACY = re.compile(r"loss|err|time|second|latency|auc|precision|recall|f1|mse|mae|cost", re.I)
MAX_DISCRETE_VALUES = 1000  # DiscreteValueSpec.values: "should not contain more than 1,000 values"
MIN_DISCRETE_GAP = 1e-10  # DiscreteValueSpec.values: "in increasing order and at least 1e-10 apart"


def metric_flag(job, trial_args: list[str], where: str) -> list[str]:
    """The flag that makes every trial report under the study's metricId: [] if trial_args already say so.
    Refuses a metric the trainer cannot report, or a goal that contradicts validation accuracy."""
    metric = job.study_spec.metrics[0]
    name, goal = metric.metric_id, metric.goal.name
    if NOT_ACCURACY.search(name):
        raise SubmitError(
            f"{where}: metricId {name!r}: the trainer reports validation accuracy only (under the study's "
            "metricId); name it for what it is, e.g. metricId: accuracy, goal: MAXIMIZE"
        )
    if goal != "MAXIMIZE":
        raise SubmitError(
            f"{where}: metric {name!r} has goal {goal}: the trainer reports validation accuracy, which must be "
            "maximised; set goal: MAXIMIZE"
        )
    given = [a.split("=", 1)[1] for a in trial_args if a.startswith("--hypertune-metric=")]
    if given and given[-1] != name:
        raise SubmitError(
            f"{where}: the trial args report --hypertune-metric={given[-1]} but the study's metricId is {name!r}; "
            "every trial would end without the measurement Vertex AI waits for: drop the flag"
        )
    return [] if given else [f"--hypertune-metric={name}"]


def _rules(study, where: str) -> None:
    """Vertex AI's documented rules for a HyperparameterTuningJob's study."""
    if study.observation_noise.name != "OBSERVATION_NOISE_UNSPECIFIED":  # StudySpec.observation_noise
        raise SubmitError(
            f"{where}: studySpec.observationNoise is not supported by HyperparameterTuningJob (only by Vertex AI "
            "Vizier, StudySpec reference); remove it"
        )
    for p in studies.all_parameters(study):
        kind = studies.value_spec(p)
        spec = getattr(p, kind)
        name = f"{where}: parameter {p.parameter_id}"
        if studies.has_field(spec, "default_value"):  # every *ValueSpec.default_value
            raise SubmitError(f"{name}: defaultValue is not supported by HyperparameterTuningJob; remove it")
        if kind == "categorical_value_spec":
            if p.scale_type.name != "SCALE_TYPE_UNSPECIFIED":  # ParameterSpec.scale_type
                raise SubmitError(f"{name}: a categorical parameter takes no scaleType; remove it")
            continue
        low = min(spec.values) if kind == "discrete_value_spec" else spec.min_value
        if p.scale_type.name in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and low <= 0:  # ScaleType
            raise SubmitError(
                f"{name}: {p.scale_type.name} needs a strictly positive range, and it reaches {low:g}; "
                "raise the minimum or use UNIT_LINEAR_SCALE"
            )
        if kind == "discrete_value_spec":
            values = list(spec.values)
            if len(values) > MAX_DISCRETE_VALUES:
                raise SubmitError(f"{name}: {len(values)} discrete values; Vertex AI takes at most 1,000")
            if any(b - a < MIN_DISCRETE_GAP for a, b in zip(values, values[1:], strict=False)):
                raise SubmitError(
                    f"{name}: discrete values {values} must be increasing and at least 1e-10 apart; "
                    f"write them sorted: {sorted(set(values))}"
                )
        if kind == "double_value_spec" and study.algorithm.name == "GRID_SEARCH":  # Algorithm.GRID_SEARCH
            raise SubmitError(
                f"{name}: GRID_SEARCH needs discrete, integer or categorical parameters, and this is a range of "
                "doubles; give it discreteValueSpec values, or use RANDOM_SEARCH"
            )


def _candidates(parameter) -> list[str]:
    """Every value a trial can be given, as the flag's text: both ends of a range, each listed value."""
    kind = studies.value_spec(parameter)
    spec = getattr(parameter, kind)
    if kind in ("double_value_spec", "integer_value_spec"):
        values = [spec.min_value, spec.max_value]
    else:
        values = list(spec.values)
    if kind == "integer_value_spec":
        values = [int(v) for v in values]
    return list(studies.flag_values({str(i): v for i, v in enumerate(values)}).values())


def check(job, trial_args: list[str], where: str) -> None:
    """Refuse (SubmitError) a study Vertex AI would reject or ignore, or whose trials the trainer would refuse:
    each value a trial can receive goes through the trainer's own flag validation, on top of trial_args."""
    _rules(job.study_spec, where)
    _one_pool(job.trial_job_spec.worker_pool_specs, where)
    _carried(job.trial_job_spec, where)
    for p in studies.all_parameters(job.study_spec):
        for value in _candidates(p):
            refused = trainer_refusal([*trial_args, f"--{p.parameter_id}={value}"])
            if refused:
                raise SubmitError(
                    f"{where}: parameter {p.parameter_id} can be {value}, which the trainer refuses ({refused}); "
                    "every such trial would start a machine only to exit 2: narrow the range"
                )


# What tune --local's sweep (trainer/submit/sweep.py) cannot do as Vertex AI does: refused there, not ignored.
NOT_LOCAL = {
    "decay_curve_stopping_spec": "studySpec.decayCurveStoppingSpec: tune --local stops trials by Vertex AI's median "
    "rule only (medianAutomatedStoppingSpec)",
    "convex_automated_stopping_spec": "studySpec.convexAutomatedStoppingSpec: tune --local stops trials by Vertex "
    "AI's median rule only (medianAutomatedStoppingSpec)",
    "study_stopping_config": "studySpec.studyStoppingConfig: tune --local stops after --max-trials only",
}


def check_local(study, where: str) -> None:
    """Refuse a study tune --local would run differently from Vertex AI: a stopping rule other than the median one,
    the median rule by elapsed time, conditional parameters, a safety metric, a reverse-log scale."""
    problems = [NOT_LOCAL[field] for field in NOT_LOCAL if studies.has_field(study, field)]
    if study.median_automated_stopping_spec.use_elapsed_duration:
        problems.append(
            "studySpec.medianAutomatedStoppingSpec.useElapsedDuration: tune --local compares trials epoch by epoch"
        )
    if studies.has_field(study.metrics[0], "safety_config"):
        problems.append(f"metric {study.metrics[0].metric_id}: safetyConfig: tune --local has no safe search")
    problems += [f"parameter {p.parameter_id}: conditionalParameterSpecs: tune --local samples every parameter always"
                 for p in study.parameters if p.conditional_parameter_specs]  # fmt: skip
    problems += [f"parameter {p.parameter_id}: UNIT_REVERSE_LOG_SCALE: tune --local samples linear and log scales only"
                 for p in studies.all_parameters(study) if p.scale_type.name == "UNIT_REVERSE_LOG_SCALE"]  # fmt: skip
    if problems:  # the first, as every other refusal names one
        raise SubmitError(
            f"{where}: {problems[0]}; run the study in the cloud (tune without --local), or remove it to run here"
        )


def _one_pool(pools, where: str) -> None:
    """The trials' machines come from the first pool and --replicas (a chief pool and a workers' pool, as train
    builds them): refuse a file whose other pools or replica count would otherwise be dropped without a word."""
    total = sum(p.replica_count or 1 for p in pools)
    if len(pools) > 1 or total > 1:
        raise SubmitError(f"{where}: trialJobSpec.workerPoolSpecs asks for {total} machines in {len(pools)} pool(s); "
                          f"give one pool with replicaCount 1 and pass --replicas {total} (the tool builds the "
                          "chief's and the workers' pools from it, as for train)")  # fmt: skip


# The fields of the file's trialJobSpec the tool uses (each trial is built from the first pool's machine and args,
# with the tool's image and its outputs under BUCKET/NAME; the timeout and service account unless a flag says);
# any other field set in the file is refused, not dropped.
CARRIED = {
    "": {"worker_pool_specs", "base_output_directory", "scheduling", "service_account"},
    "scheduling.": {"timeout"},
    "workerPoolSpecs[0].": {"machine_spec", "replica_count", "container_spec"},
    "workerPoolSpecs[0].containerSpec.": {"image_uri", "args"},
}


def dropped(spec) -> list[str]:
    """The fields set in a trialJobSpec (aiplatform_v1.CustomJobSpec) that CARRIED leaves out, in YAML's names."""
    pool = spec.worker_pool_specs[0] if spec.worker_pool_specs else None
    parts = {"": spec, "scheduling.": spec.scheduling, "workerPoolSpecs[0].": pool,
             "workerPoolSpecs[0].containerSpec.": pool.container_spec if pool else None}  # fmt: skip
    found = []
    for prefix, message in parts.items():
        fields = {f.name for f, _ in type(message).pb(message).ListFields()} if message is not None else set()
        found += [prefix + re.sub(r"_(\w)", lambda m: m.group(1).upper(), f) for f in sorted(fields - CARRIED[prefix])]
    return found


def _carried(spec, where: str) -> None:
    """Refuse a trialJobSpec field the tool would drop without a word (an env, a disk, another scheduling field)."""
    found = dropped(spec)
    if found:
        raise SubmitError(f"{where}: trialJobSpec.{found[0]} is not carried by this tool (each trial is built from "
                          "the first pool's machine, replicaCount and args, the timeout and the service account); "
                          "remove it, or set it with a flag if tune --help has one")  # fmt: skip
