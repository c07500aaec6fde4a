"""The suite's own scheduling (tests/scheduling.py): every xdist worker starts with its share of the long modules
and long tests, and runs one TensorFlow thread within and between ops."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from scheduling import _first_slices, pytest_collection_modifyitems, pytest_configure
from xdist.scheduler import WorkStealingScheduling


@dataclass
class Item:
    path: Path
    name: str
    long: bool = False  # marked in its module
    own: bool = False  # marked on the test itself

    @property
    def own_markers(self) -> list:
        return [pytest.mark.long.mark] if self.own else []

    def get_closest_marker(self, name: str):
        return pytest.mark.long if name == "long" and (self.long or self.own) else None


def _items() -> list[Item]:
    """Ten short modules of three tests, with two long modules (two tests and one) among them."""
    items = [Item(Path(f"test_{m}.py"), f"{m}{i}") for m in "abcdefghij" for i in range(3)]
    items[6:6] = [Item(Path("test_gcs.py"), f"gcs{i}", long=True) for i in range(2)]
    items[20:20] = [Item(Path("test_multi.py"), "multi0", long=True)]
    return items


class Node:
    """What xdist's scheduler sends a worker: the indices of the tests it is to run."""

    shutting_down = False

    def __init__(self, index: int) -> None:
        self.gateway, self.sent = SimpleNamespace(id=f"gw{index}"), []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices


@pytest.mark.parametrize("count, workers", [(33, 3), (34, 3), (539, 3), (10, 4), (5, 1)])
def test_the_first_slices_are_what_xdists_worksteal_scheduler_hands_each_worker(count, workers):
    scheduler = WorkStealingScheduling(SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"]))
    nodes = [Node(i) for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, [f"t{i}" for i in range(count)])
    scheduler.schedule()
    assert [len(node.sent) for node in nodes] == _first_slices(count, workers)
    assert [i for node in nodes for i in node.sent] == list(range(count))  # consecutive slices, in order


def test_each_worker_starts_with_a_long_module_kept_whole_and_nothing_is_lost():
    items = _items()
    before = [i.name for i in items]
    pytest_collection_modifyitems(SimpleNamespace(workerinput={"workercount": 3}), items)
    assert sorted(i.name for i in items) == sorted(before)
    starts = [sum(_first_slices(len(items), 3)[:k]) for k in range(3)]
    assert [items[s].name for s in starts[:2]] == ["gcs0", "multi0"] and not items[starts[2]].long
    assert [i.name for i in items[:2]] == ["gcs0", "gcs1"]  # the module stays whole, in its order
    short = [i.name for i in items if not i.long]
    assert short == [n for n in before if not n.startswith(("gcs", "multi"))]  # the rest keep their order


def test_tests_marked_long_on_their_own_start_the_next_workers_one_each_after_the_long_modules():
    """A property run with many examples (tests/test_fuzz.py) is long on its own: the others in its module are not
    moved with it, and two such tests of one module go to two workers."""
    items = _items()
    items[0].own = items[1].own = True  # a0 and a1, in a module of short tests
    pytest_collection_modifyitems(SimpleNamespace(workerinput={"workercount": 3}), items)
    starts = [sum(_first_slices(len(items), 3)[:k]) for k in range(3)]
    assert [items[s].name for s in starts] == ["gcs0", "multi0", "a0"]
    assert [i.name for i in items[:4]] == ["gcs0", "gcs1", "a1", "a2"]  # a1: the fourth group, the first worker's
    # again, after its module; a2, the rest of their module, first of the short tests, in their order


def test_without_xdist_the_long_modules_run_first():
    items = _items()
    pytest_collection_modifyitems(SimpleNamespace(), items)
    assert [i.name for i in items[:3]] == ["gcs0", "gcs1", "multi0"]


@pytest.mark.parametrize("worker", [True, False])
def test_a_worker_and_what_it_starts_run_one_tensorflow_thread_within_and_between_ops_and_a_plain_run_keeps_tensorflows(
    worker, monkeypatch
):
    environ: dict[str, str] = {}  # the process's own variables stay as they are
    monkeypatch.setattr(os, "environ", environ)
    pytest_configure(SimpleNamespace(workerinput={"workerid": "gw0"}) if worker else SimpleNamespace())
    expected = "1" if worker else None
    assert (environ.get("TF_NUM_INTRAOP_THREADS"), environ.get("TF_NUM_INTEROP_THREADS")) == (expected, expected)
