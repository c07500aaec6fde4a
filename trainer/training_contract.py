"""Vertex AI's contract for a training job, both sides of it in one place: where a job's outputs go under its
base output directory, and the environment variables Vertex AI sets in each replica. The trainer reads them
(config, distribution), `./submit.sh local` sets them as Vertex AI would (submit/local.py), and the launcher
finds a job's model by the same layout (submit/steps.py). The serving half is trainer/serving_contract.py.

From Vertex AI's "Prepare training code" page (https://cloud.google.com/vertex-ai/docs/training/code-requirements,
"Environment variables set by Vertex AI"): with baseOutputDirectory set, AIP_MODEL_DIR is BASE/model/,
AIP_CHECKPOINT_DIR BASE/checkpoints/ and AIP_TENSORBOARD_LOG_DIR BASE/logs/; a tuning trial's are under
BASE/TRIAL_ID/. CLUSTER_SPEC names the worker pools (workerpool0 is the chief's); TF_CONFIG gives TensorFlow the
same cluster in its own roles. CLOUD_ML_HP_METRIC_FILE and CLOUD_ML_TRIAL_ID are set for a tuning trial
(cloudml-hypertune writes to the former).
"""

from __future__ import annotations

import json
from pathlib import Path

# Each output folder: the trainer's Config field, Vertex AI's variable, and its folder under the base directory.
OUTPUTS = {
    "model_dir": ("AIP_MODEL_DIR", "model"),
    "checkpoint_dir": ("AIP_CHECKPOINT_DIR", "checkpoints"),
    "tensorboard_dir": ("AIP_TENSORBOARD_LOG_DIR", "logs"),
}
MODEL_DIR = OUTPUTS["model_dir"][0]
METRIC_FILE = "CLOUD_ML_HP_METRIC_FILE"
TRIAL_ID = "CLOUD_ML_TRIAL_ID"
JOB_ID = "CLOUD_ML_JOB_ID"
IMAGE = "TRAINER_IMAGE"  # ours, not Vertex AI's: the launcher puts the image it sent in each replica's environment
# Vertex AI names worker pools in CLUSTER_SPEC; TensorFlow names the same roles in TF_CONFIG.
VERTEX_POOLS = {"workerpool0": "chief", "workerpool1": "worker", "workerpool2": "ps", "workerpool3": "evaluator"}


def model_dir(base: str) -> str:
    """Where a job whose base output directory is `base` (BUCKET/NAME, or BUCKET/NAME/TRIAL_ID) exports its model."""
    return f"{base}/{OUTPUTS['model_dir'][1]}"


def replica_environment(
    output_dir: Path, job_id: str, cluster: dict[str, list[str]], pool: str, index: int, trial_id: str | None = None
) -> dict[str, str]:
    """What Vertex AI puts in a replica's environment, with the output folders under output_dir."""
    env = {variable: str(output_dir / folder) for variable, folder in OUTPUTS.values()}
    env[JOB_ID] = job_id
    env[METRIC_FILE] = str(output_dir / "hypertune" / f"{pool}-{index}.metrics")
    env["CLUSTER_SPEC"] = json.dumps(
        {"cluster": cluster, "environment": "cloud", "task": {"type": pool, "index": index}, "job": job_id}
    )
    env["TF_CONFIG"] = json.dumps(
        {
            "cluster": {VERTEX_POOLS[p]: hosts for p, hosts in cluster.items()},
            "task": {"type": VERTEX_POOLS[pool], "index": index},
            "environment": "cloud",
        }
    )
    if trial_id:
        env[TRIAL_ID] = trial_id
    return env
