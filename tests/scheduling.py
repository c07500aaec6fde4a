"""How the suite shares the cores among its xdist workers: how many workers, how many threads each TensorFlow
among them runs, and which tests each worker starts with. conftest.py exposes these hooks to pytest."""

from __future__ import annotations

import gc
import os

import pytest


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker more than the cores this process may use (at most 8), since the tests spend much
    of their time waiting on trainer processes. Measured on 2 cores: 2 workers 372 s, 3 workers 268 s, 4 290 s."""
    return min(len(os.sched_getaffinity(0)) + 1, 8)


def pytest_configure(config) -> None:
    """In an xdist worker, one TensorFlow thread within an op and one between ops, for the worker and every trainer
    process it starts (TensorFlow reads TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS,
    tensorflow/core/common_runtime/process_util.cc): the workers and their trainers outnumber the cores, so more
    threads only wait for a core. Runs taken in turn on 2 cores: 167-170 s against 173-175 s (docs/testing.md).
    Set before collection, which imports TensorFlow; a run without xdist keeps TensorFlow's own pools."""
    if hasattr(config, "workerinput"):
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def pytest_unconfigure(config) -> None:
    """The process ends next (each worker, and pytest itself): skip the interpreter's last walk of TensorFlow's
    objects on the way out, as the package's commands do (trainer/process.py), a second or two each."""
    gc.freeze()


def _first_slices(count: int, workers: int) -> list[int]:
    """The sizes of the consecutive slices of the collection that `--dist worksteal` first hands each worker
    (xdist's WorkStealingScheduling.check_schedule: what is left, shared evenly among the workers still idle)."""
    sizes = []
    for idle in range(workers, 0, -1):
        sizes.append((count - sum(sizes)) // idle)
    return sizes


@pytest.hookimpl(trylast=True)  # after -m has deselected what this run leaves out
def pytest_collection_modifyitems(config, items) -> None:
    """Each worker starts with its share of what is marked `long`, so that no worker is left running one such test
    alone at the end, and their waits overlap the other workers' work: a module marked `long` (tests of tens of
    seconds, mostly waits on peers and held processes) moves whole, its module fixtures set up once; a test marked
    `long` (a property run with many examples) moves alone, after the modules. Each goes to the head of one of the
    slices worksteal first hands out, in turn. Without xdist, they simply run first."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    modules: dict[object, list] = {}  # module path -> its tests, in collection order
    tests = []  # tests marked on their own
    rest = []
    for item in items:
        if any(mark.name == "long" for mark in item.own_markers):
            tests.append(item)
        elif item.get_closest_marker("long"):
            modules.setdefault(item.path, []).append(item)
        else:
            rest.append(item)
    if not modules and not tests:
        return
    heads: list[list] = [[] for _ in range(workers)]
    for i, group in enumerate([*modules.values(), *([test] for test in tests)]):
        heads[i % workers] += group
    ordered = []
    for head, size in zip(heads, _first_slices(len(items), workers), strict=True):
        fill = max(size - len(head), 0)
        ordered += head + rest[:fill]
        del rest[:fill]
    items[:] = ordered + rest
