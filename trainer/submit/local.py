"""Jobs on this machine, as Vertex AI would run them: the image's entry point with the Vertex environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from trainer.cluster import replica_name
from trainer.submit import container
from trainer.submit.errors import SubmitError
from trainer.training_contract import IMAGE, VERTEX_POOLS, replica_environment
from trainer.values import shown

POOLS = list(VERTEX_POOLS)[:2]  # a job's pools: the chief's, then the other workers', as Vertex AI requires


def free_port() -> int:
    """A port nothing listens on now, on this machine's loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_worker_pools(
    pools: list[tuple[int, list[str]]],
    output_dir: Path,
    job_id: str,
    trial_id: str | None = None,
    log=None,
    on_start: Callable[[str, subprocess.Popen], None] | None = None,
    image: str | None = None,
    container_env: Mapping[str, str] | None = None,
) -> int:
    """Run each replica of each pool as a local process of the image's entry point
    (`python -m trainer.task ARGS`) with the Vertex environment; the worst exit status.
    `log`: where the replicas' output goes (a file, subprocess.PIPE; None: this process's).
    `on_start`, if given, gets each replica's task name as Vertex AI's logs label it (workerpool0-0,
    workerpool1-0, ...) and its process as it starts (to signal them, as Vertex AI does on cancel).
    `image`, if given: each replica runs in that image with podman instead (trainer.submit.container).
    `container_env`: the container's own variables (a worker pool's containerSpec.env), beside Vertex AI's.
    A replica that fails ends the job, as a permanent error does on Vertex AI (vertex-ai/docs/training/
    understanding-training-service): the others are stopped, and the failed one's status is the job's. Without
    that, a worker whose chief never started would wait for it for ever."""
    cluster = {
        POOLS[i]: [f"127.0.0.1:{free_port()}" for _ in range(count)] for i, (count, _) in enumerate(pools) if count
    }
    procs: dict[str, subprocess.Popen] = {}  # Vertex AI's task name -> its replica
    containers: list[str] = []
    try:
        for i, (count, args) in enumerate(pools):
            for index in range(count):
                task = f"{POOLS[i]}-{index}"
                vertex_env = {
                    **(container_env or {}),
                    **replica_environment(output_dir, job_id, cluster, POOLS[i], index, trial_id),
                }
                command = [sys.executable, "-m", "trainer.task", *args]
                if image:  # container names are the host's: the pid keeps two jobs of the same second apart
                    containers.append(f"{job_id}-{os.getpid()}-{task}".lower())
                    command = container.replica_command(image, containers[-1], vertex_env, output_dir, args)
                process = subprocess.Popen(
                    command,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", **vertex_env},
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                )
                procs[task] = process
                if on_start:
                    on_start(task, process)
        return _job_status(procs, job_id)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        container.remove(containers)


STOP_GRACE = 30.0  # seconds the other replicas get to stop on SIGTERM (their backup, their last line) before a kill


def _job_status(procs: dict[str, subprocess.Popen], job_id: str) -> int:
    """Waits until every replica (by task name) has ended or one has failed; then SIGTERM to the others, each
    given STOP_GRACE seconds (the caller kills what is left), and a last line naming the replica that failed, since
    the stopped ones' own last lines (a SIGTERM) would otherwise be the last on screen. Returns the failed
    replicas' worst status, else 0."""
    while any(p.poll() is None for p in procs.values()) and not any(p.returncode for p in procs.values()):
        time.sleep(0.1)
    failed = {task: p.returncode for task, p in procs.items() if p.returncode}
    stopped = [task for task, p in procs.items() if p.poll() is None]
    for task in stopped:
        procs[task].terminate()
    deadline = time.monotonic() + STOP_GRACE
    for task in stopped:
        try:
            procs[task].wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    if stopped:
        task, status = next(iter(failed.items()))
        print(f"error: local job {job_id}: the {replica_name(task)} ({task}) exited with status {status} (its error "
              f"is above); the job ended there, as on Vertex AI, and {', '.join(replica_name(t) for t in stopped)} "
              f"{'was' if len(stopped) == 1 else 'were'} stopped", file=sys.stderr, flush=True)  # fmt: skip
    return max((abs(status) for status in failed.values()), default=0)


def output_folder(folder: Path, what: str) -> None:
    """--output-dir made (with its parents) if it is missing; one line (SubmitError) if it cannot be: a file, a
    path through a file, no permission."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte, which no path can hold
        not_folder = os.path.exists(folder) and not os.path.isdir(folder)  # os.path: False on a name too long
        why = "a file, not a folder" if not_folder else getattr(e, "strerror", None) or str(e)
        raise SubmitError(f"--output-dir {shown(str(folder))}: {what} ({why}); pass a new folder") from None


def run_local(trainer_args: list[str], output_dir: Path, replicas: int, image: str | None = None) -> int:
    """`./submit.sh local [--container]`: one job, a chief and replicas-1 workers, as processes here or in
    the image; returns the worst exit status."""
    output_folder(output_dir, "cannot hold the job's outputs")
    job_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"local job {job_id}{' in ' + image if image else ''}: outputs in {output_dir}", flush=True)
    pools = [(1, trainer_args)] + ([(replicas - 1, trainer_args)] if replicas > 1 else [])
    folder = output_dir.resolve() if image else output_dir
    return run_worker_pools(pools, folder, job_id, image=image, container_env={IMAGE: image} if image else None)
