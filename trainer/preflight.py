"""Before any data is read: can this run write everything it will write, and may it replace the model folder?

A typo in a path or a bucket the service account may not write to costs seconds here, not an hour
of a billed GPU followed by a traceback at export.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import tensorflow as tf

from trainer import cluster, distribution, export, storage
from trainer.config import Config


@dataclass(frozen=True)
class Output:
    """An output location and the flag or environment variable it came from, e.g. "--job-dir" or "$AIP_MODEL_DIR"."""

    uri: str
    source: str


class PreflightError(Exception):
    """An output location the run cannot or must not write, as one line."""


def _norm(uri: str) -> str:
    uri = uri.rstrip("/")
    return uri if uri.startswith("gs://") else os.path.abspath(uri)


def _inside(uri: str, folder: str) -> bool:
    return _norm(uri) == _norm(folder) or _norm(uri).startswith(_norm(folder) + "/")


def _hint(uri: str, reason: str) -> str:
    if reason == "permission denied" and not storage.is_plain_local(uri):
        return "; the job's service account needs write access to the bucket (roles/storage.objectUser)"
    return ""


def check(model: Output | None, folders: list[Output]) -> None:
    """Raise PreflightError at the first output this run could not or must not write.

    model: the folder the export replaces (None on a worker, which writes no model); it must be
    empty, missing or this trainer's own export, and must not hold any other output. folders: every
    other folder the run writes to; each is probed with a small file that is removed again.
    """
    if model is not None:
        try:
            export.check_replaceable(model.uri)
        except storage.StorageError as e:
            raise PreflightError(f"{model.source} {model.uri}: {e}") from None
        for other in folders:
            if _inside(other.uri, model.uri):
                raise PreflightError(
                    f"{model.source} {model.uri}: also holds {other.source} {other.uri}; every export replaces "
                    "the model folder, so give the model a folder of its own"
                )
    probes = [(output.uri, output) for output in folders]
    if model is not None:  # the export writes a sibling first, then swaps it in
        probes.insert(0, (model.uri.rstrip("/") + export.SIBLING_SUFFIX, model))
    for uri, output in probes:
        try:
            storage.probe(uri)
        except storage.StorageError as e:
            raise PreflightError(
                f"{output.source} {output.uri}: cannot write there ({e}){_hint(output.uri, str(e))}"
            ) from None


def check_outputs(config: Config, role: cluster.Role) -> None:
    """Preflight every folder this process writes; only the chief probes what only the chief writes."""
    checkpoints = Output(config.checkpoint_dir, config.sources.get("checkpoint_dir", "--checkpoint-dir"))
    if not role.is_chief:
        return check(None, [checkpoints])
    if config.metric_file and tf.io.gfile.isdir(config.metric_file):  # else the first epoch's report fails
        raise PreflightError(f"$CLOUD_ML_HP_METRIC_FILE {config.metric_file}: is a folder; cloudml-hypertune writes "
                             "the tuning metric to a file, e.g. /tmp/hypertune/output.metrics (its default)")  # fmt: skip
    metric_folder = (
        Output(os.path.dirname(config.metric_file), "$CLOUD_ML_HP_METRIC_FILE")
        if config.metric_file
        else Output("/tmp/hypertune", "the tuning metric folder (cloudml-hypertune's default)")
    )
    outputs = {
        name: Output(getattr(config, name), config.sources.get(name, "--" + name.replace("_", "-")))
        for name in ("model_dir", "job_dir", "tensorboard_dir")
    }
    check(outputs["model_dir"], [outputs["job_dir"], checkpoints, outputs["tensorboard_dir"], metric_folder])


def check_hardware(config: Config) -> None:
    """Raise distribution.AcceleratorMissing when --accelerator names a GPU or TPU TensorFlow cannot see."""
    if config.accelerator in ("gpu", "tpu"):
        distribution.check_accelerator(
            config.accelerator,
            num_gpus=len(tf.config.list_physical_devices("GPU")) if config.accelerator == "gpu" else 0,
            tpu_chips=distribution.tpu_devices(),
            tpu_name=config.tpu or os.environ.get("TPU_NAME"),
            build_info=tf.sysconfig.get_build_info(),
            has_libtpu=importlib.util.find_spec("libtpu") is not None,
        )
