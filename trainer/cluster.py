"""Where this process stands in a Vertex AI job: its task type, index, and whether it is the chief, read from
TF_CONFIG or Vertex AI's CLUSTER_SPEC without importing TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from trainer.training_contract import VERTEX_POOLS


def replica_name(task_name: str) -> str:
    """How a replica is called in logs, from Vertex AI's task name: chief for workerpool0-0, worker-1 for
    workerpool1-0 (the chief is worker 0 of the cluster), ps-0, evaluator-0; other names as they are."""
    pool, _, index = (task_name or "").rpartition("-")
    role = VERTEX_POOLS.get(pool)
    if role is None or not index.isdigit():
        return task_name or "?"
    if role == "chief":
        return "chief"
    return f"worker-{int(index) + 1}" if role == "worker" else f"{role}-{index}"


@dataclass(frozen=True)
class Role:
    task_type: str
    index: int
    num_tasks: int  # tasks that train (chief and workers)
    is_chief: bool

    @property
    def name(self) -> str:
        return f"{self.task_type}-{self.index}"


class ClusterError(Exception):
    """TF_CONFIG or CLUSTER_SPEC is not a cluster this process can take its role from (exit 2)."""


SPEC_FORM = '{"cluster": {ROLE: ["HOST:PORT", ...]}, "task": {"type": ROLE, "index": N}}'


def _spec(environ: Mapping[str, str], name: str) -> tuple[dict, dict]:
    """The cluster and task of the JSON in $NAME, checked: one line (ClusterError) for anything else."""
    try:
        spec = json.loads(environ[name])
    except ValueError as e:
        raise ClusterError(f"${name}: not valid JSON ({e}); unset it to train as one process") from None
    cluster, task = (spec.get("cluster", {}), spec.get("task", {})) if isinstance(spec, dict) else (None, None)
    hosts_ok = isinstance(cluster, dict) and all(
        isinstance(hosts, list) and all(isinstance(h, str) for h in hosts) for hosts in cluster.values()
    )
    index, kind = (task.get("index", 0), task.get("type", "")) if isinstance(task, dict) else (None, None)
    if not hosts_ok or not isinstance(kind, str) or not isinstance(index, int) or isinstance(index, bool):
        raise ClusterError(f"${name}: not a cluster spec, {SPEC_FORM}; unset it to train as one process")
    return cluster, task


def _cluster_and_task(environ: Mapping[str, str]) -> tuple[dict, dict]:
    """The cluster and this task from TF_CONFIG, else from Vertex's CLUSTER_SPEC; empty when neither is set."""
    if environ.get("TF_CONFIG"):
        return _spec(environ, "TF_CONFIG")
    if environ.get("CLUSTER_SPEC"):
        pools, task = _spec(environ, "CLUSTER_SPEC")
        cluster = {VERTEX_POOLS.get(pool, pool): hosts for pool, hosts in pools.items()}
        task = {**task, "type": VERTEX_POOLS.get(task.get("type", ""), task.get("type", ""))}
        return cluster, task
    return {}, {}


def task_role(environ: Mapping[str, str]) -> Role:
    """This process's role. The chief (called `master` by older configs) writes the job's outputs;
    without a chief, worker 0 does; a process with no cluster at all is a single replica and the chief."""
    cluster, task = _cluster_and_task(environ)
    if not task:
        return Role("chief", 0, 1, True)
    task_type, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = bool(cluster.get("chief") or cluster.get("master"))
    is_chief = task_type in ("chief", "master") or (task_type == "worker" and index == 0 and not has_chief)
    num_tasks = sum(len(cluster.get(t, [])) for t in ("chief", "master", "worker"))
    return Role(task_type, index, max(num_tasks, 1), is_chief)
