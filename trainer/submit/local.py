"""Jobs on this machine, as Vertex AI would run them: the image's entry point with the Vertex environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from trainer.submit import study as studies

VERTEX_POOLS = ["workerpool0", "workerpool1"]  # chief pool, then the other workers, as Vertex AI requires


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vertex_environment(
    output_dir: Path, job_id: str, cluster: dict[str, list[str]], pool: str, index: int, trial_id: str | None = None
) -> dict[str, str]:
    """What Vertex AI puts in a replica's environment, with the output dirs under output_dir."""
    tf_names = {"workerpool0": "chief", "workerpool1": "worker"}
    env = {
        "AIP_MODEL_DIR": str(output_dir / "model"),
        "AIP_CHECKPOINT_DIR": str(output_dir / "checkpoints"),
        "AIP_TENSORBOARD_LOG_DIR": str(output_dir / "logs"),
        "CLOUD_ML_JOB_ID": job_id,
        "CLOUD_ML_HP_METRIC_FILE": str(output_dir / "hypertune" / f"{pool}-{index}.metrics"),
        "CLUSTER_SPEC": json.dumps(
            {"cluster": cluster, "environment": "cloud", "task": {"type": pool, "index": index}, "job": job_id}
        ),
        "TF_CONFIG": json.dumps(
            {
                "cluster": {tf_names[p]: hosts for p, hosts in cluster.items()},
                "task": {"type": tf_names[pool], "index": index},
                "environment": "cloud",
            }
        ),
    }
    if trial_id:
        env["CLOUD_ML_TRIAL_ID"] = trial_id
    return env


def run_worker_pools(
    pools: list[tuple[int, list[str]]],
    output_dir: Path,
    job_id: str,
    trial_id: str | None = None,
    log=None,
    started: list | None = None,
) -> int:
    """Run each replica of each pool as a local process of the image's entry point
    (`python -m trainer.task ARGS`) with the Vertex environment; the worst exit status.
    `started`, if given, receives each process as it starts (to signal them, as Vertex AI does on cancel)."""
    cluster = {
        VERTEX_POOLS[i]: [f"127.0.0.1:{_free_port()}" for _ in range(count)]
        for i, (count, _) in enumerate(pools)
        if count
    }
    procs = [] if started is None else started
    try:
        for i, (count, args) in enumerate(pools):
            for index in range(count):
                env = {
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    **vertex_environment(output_dir, job_id, cluster, VERTEX_POOLS[i], index, trial_id),
                }
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "trainer.task", *args],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT if log else None,
                    )
                )
        return max(abs(p.wait()) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_local(trainer_args: list[str], output_dir: Path, replicas: int) -> int:
    """`./submit.sh local`: one job, a chief and replicas-1 workers; returns the worst exit status."""
    job_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"local job {job_id}: outputs in {output_dir}", flush=True)
    pools = [(1, trainer_args)] + ([(replicas - 1, trainer_args)] if replicas > 1 else [])
    return run_worker_pools(pools, output_dir, job_id)


def tune_local(study, trial_spec, trainer_args: list[str], output_dir: Path, max_trials: int) -> int:
    """`./submit.sh tune --local`: sample trials, run each as a local job, read each trial's real metric file."""
    metric = study.metrics[0]
    maximize = metric.goal.name == "MAXIMIZE"
    base_args = [*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
    results = []
    for number, values in enumerate(studies.sample_trials(study, max_trials), 1):
        trial_dir = output_dir / str(number)
        args = [*base_args, *(f"--{k}={v}" for k, v in values.items())]
        print(f"trial {number}/{max_trials}: {' '.join(f'--{k}={v}' for k, v in values.items())}", flush=True)
        trial_dir.mkdir(parents=True, exist_ok=True)
        with open(trial_dir / "log.txt", "w") as log:
            rc = run_worker_pools([(1, args)], trial_dir, f"local-tune-{number}", trial_id=str(number), log=log)
        value = studies.read_metric(studies.chief_metric_file(trial_dir), metric.metric_id)
        results.append((number, values, value if rc == 0 else None))
    print(f"\n{'trial':>5}  {metric.metric_id:>10}  parameters")
    for number, values, value in results:
        shown = "failed" if value is None else f"{value:.4f}"
        print(f"{number:>5}  {shown:>10}  {' '.join(f'{k}={v}' for k, v in values.items())}")
    done = [r for r in results if r[2] is not None]
    if not done:
        print("error: every trial failed; see the logs under " + str(output_dir), file=sys.stderr)
        return 1
    best = (max if maximize else min)(done, key=lambda r: r[2])
    print(
        f"best: trial {best[0]}, {metric.metric_id} {best[2]:.4f}, {' '.join(f'--{k}={v}' for k, v in best[1].items())}"
    )
    return 0
