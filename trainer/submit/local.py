"""Jobs on this machine, as Vertex AI would run them: the image's entry point with the Vertex environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from trainer.submit import container

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
    on_line: Callable[[str, str], None] | None = None,
    image: str | None = None,
) -> int:
    """Run each replica of each pool as a local process of the image's entry point
    (`python -m trainer.task ARGS`) with the Vertex environment; the worst exit status.
    `started`, if given, receives each process as it starts (to signal them, as Vertex AI does on cancel).
    `on_line`, if given, gets (task name, line) for each line a replica prints, task names as Vertex AI's
    logs label them (workerpool0-0, workerpool1-0, ...); the lines still go to `log` too.
    `image`, if given: each replica runs in that image with podman instead (trainer.submit.container)."""
    cluster = {
        VERTEX_POOLS[i]: [f"127.0.0.1:{_free_port()}" for _ in range(count)]
        for i, (count, _) in enumerate(pools)
        if count
    }
    procs = [] if started is None else started
    readers: list[threading.Thread] = []
    containers: list[str] = []
    try:
        for i, (count, args) in enumerate(pools):
            for index in range(count):
                task = f"{VERTEX_POOLS[i]}-{index}"  # as Vertex AI's logs name the replica
                vertex_env = vertex_environment(output_dir, job_id, cluster, VERTEX_POOLS[i], index, trial_id)
                command = [sys.executable, "-m", "trainer.task", *args]
                if image:
                    containers.append(f"{job_id}-{task}".lower())
                    command = container.replica_command(image, containers[-1], vertex_env, output_dir, args)
                process = subprocess.Popen(
                    command,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", **vertex_env},
                    stdout=subprocess.PIPE if on_line else log,
                    stderr=subprocess.STDOUT if (log or on_line) else None,
                    text=bool(on_line),
                )
                procs.append(process)
                if on_line:
                    readers.append(threading.Thread(target=_forward, args=(process, task, log, on_line)))
                    readers[-1].start()
        return max(abs(p.wait()) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        container.remove(containers)
        for reader in readers:
            reader.join()


def _forward(process: subprocess.Popen, task: str, log, on_line: Callable[[str, str], None]) -> None:
    """Each line a replica prints, to its log file and to on_line, as a logging agent would pick it up."""
    for line in process.stdout:
        if log:
            log.write(line)
            log.flush()
        on_line(task, line.rstrip("\n"))


def run_local(trainer_args: list[str], output_dir: Path, replicas: int, image: str | None = None) -> int:
    """`./submit.sh local [--container]`: one job, a chief and replicas-1 workers, as processes here or in
    the image; returns the worst exit status."""
    job_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"local job {job_id}{' in ' + image if image else ''}: outputs in {output_dir}", flush=True)
    pools = [(1, trainer_args)] + ([(replicas - 1, trainer_args)] if replicas > 1 else [])
    return run_worker_pools(pools, output_dir.resolve() if image else output_dir, job_id, image=image)
