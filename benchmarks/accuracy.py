"""Train stages with their full codelab budget on the real MNIST and print test accuracy and wall time.

    python benchmarks/accuracy.py --stage 5          # one stage
    python benchmarks/accuracy.py                    # all five, as the README table

Each stage must reach at least the floor below (the codelab reports about 90, 97.7, 97.7, 99.0, 99.5%).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainer import models, task  # noqa: E402

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FLOOR = {"softmax": 0.895, "dense": 0.975, "dropout": 0.975, "conv": 0.988, "batchnorm": 0.994}
CODELAB = {"softmax": 0.90, "dense": 0.977, "dropout": 0.977, "conv": 0.990, "batchnorm": 0.995}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", action="append", help="name or number; repeat for several (default: all five)")
    p.add_argument("--data-dir", default=str(MNIST_DIR))
    args = p.parse_args()
    stages = [models.resolve_stage(s) for s in args.stage] if args.stage else list(models.STAGES.values())
    rows = []
    for stage in stages:
        with tempfile.TemporaryDirectory() as job_dir:
            if task.main(["--stage", stage.name, "--data-dir", args.data_dir, "--job-dir", job_dir]) != 0:
                return 1
            m = json.loads((Path(job_dir) / "metrics.json").read_text())
        rows.append((stage, m["test_accuracy"], m["wall_seconds"], m["images_per_second"]))
    print("\n| stage | test accuracy | codelab | floor | wall time | images/s |\n|---|---|---|---|---|---|")
    for stage, acc, wall, ips in rows:
        ok = "" if acc >= FLOOR[stage.name] else " **below floor**"
        print(f"| {stage.number} {stage.name} | {acc:.2%}{ok} | {CODELAB[stage.name]:.1%} | {FLOOR[stage.name]:.1%} | {wall:.0f} s | {ips:,.0f} |")
    return 0 if all(acc >= FLOOR[s.name] for s, acc, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
