"""Training that goes wrong says so: a run whose loss becomes nan fails in one line, and a run that
collapses to chance warns and still reports its metric."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_DIR, read_metrics, run_in_process


def test_a_diverging_run_fails_with_a_clear_message(tmp_path):
    result = run_in_process(
        "--stage=dense", f"--data-dir={SAMPLE_DIR}", f"--job-dir={tmp_path}", "--train-size=2048", "--epochs=2",
        "--learning-rate=1e12",
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: loss is nan at epoch 1, batch ") and "--learning-rate" in last
    assert "Traceback" not in result.stderr and not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("learning_rate, collapses", [("3", True), ("0.001", False)])
def test_a_run_collapsed_to_chance_warns_but_still_reports_its_metric(tmp_path, learning_rate, collapses):
    result = run_in_process(
        "--stage=dense", f"--data-dir={SAMPLE_DIR}", f"--job-dir={tmp_path}", "--no-plots", "--batch-size=32",
        "--test-size=500", "--epochs=1", f"--learning-rate={learning_rate}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: training accuracy is")]
    assert len(warnings) == int(collapses)
    if collapses:
        assert "after epoch 1, about chance" in warnings[0] and "--learning-rate" in warnings[0]
    assert 0 < read_metrics(tmp_path)["test_accuracy"] < (0.2 if collapses else 1)
