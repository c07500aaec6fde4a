"""The TPU image built with podman, as `build --local --tpu` builds it: TensorFlow for TPUs and libtpu install, the
trainer imports, and a job run in it stops at the trainer's TPU check on this machine, which has no TPU.

A module of its own, apart from test_container.py: CI's second step (.ci/run) starts it on the other worker as the
training image builds, so that the two builds, minutes each, overlap (docs/testing.md).
"""

from __future__ import annotations

import pytest
from conftest import local_container

from trainer.submit import cli

pytestmark = pytest.mark.container


def test_the_tpu_image_installs_imports_tensorflow_and_stops_at_the_tpu_check(tmp_path, capfd):
    assert cli.main(["build", "--local", "--tpu"]) == 0
    assert local_container(tmp_path, "--accelerator", "tpu", "--smoke") == 1
    err = capfd.readouterr().err
    assert "error: --accelerator tpu: this machine has no TPU" in err
    assert not (tmp_path / "model").exists()
