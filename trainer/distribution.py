"""How this process trains: the strategy (one device, mirrored, multi-worker, TPU), the precision and the global
batch. Its place in the job (trainer.cluster) decides between one worker and several."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainer import cluster

if TYPE_CHECKING:  # TensorFlow is imported where a strategy is made
    import tensorflow as tf


@dataclass(frozen=True)
class Placement:
    """Where the model trains and what that implies for the batch, precision and learning rate."""

    strategy: tf.distribute.Strategy
    kind: str
    precision: str
    global_batch: int
    learning_rate: float
    steps_per_execution: int


STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
TPU_VARIABLES = ("TPU_NAME", "TPU_CONFIG", "TPU_ACCELERATOR_TYPE")


def choose_strategy(
    requested: str, *, tpu: str | None, environ: Mapping[str, str], num_gpus: int, accelerator: str = "auto"
) -> str:
    """Which tf.distribute strategy to use, from flags, environment and visible GPUs alone.

    auto: a TPU when one is configured; several workers when the cluster lists more than one
    training task; several GPUs on this machine; else the default (one device) strategy.
    """
    tasks = cluster.task_role(environ).num_tasks
    # Was: each machine trained alone, all of them billed. (default stays: one process playing its role alone.)
    if requested == "mirrored" and tasks > 1:
        raise cluster.ClusterError(f"--distribute {requested}: trains on one machine, and this job's cluster "
                                   f"(TF_CONFIG or CLUSTER_SPEC) has {tasks} training tasks, so each would train "
                                   "alone; use --distribute multiworker, or auto")  # fmt: skip
    if requested != "auto":
        return requested
    if tpu or accelerator == "tpu" or any(environ.get(v) for v in TPU_VARIABLES):
        return "tpu"
    if tasks > 1:
        return "multiworker"
    if num_gpus > 1:
        return "mirrored"
    return "default"


def choose_precision(
    requested: str, *, strategy: str, gpu_compute_capabilities: list[tuple[int, int]], cpu_bfloat16: bool = False
) -> str:
    """The Keras dtype policy. auto: bfloat16 on TPU; float16 on GPUs with tensor cores (compute
    capability 7.0 or newer); bfloat16 on CPUs with native bfloat16 instructions (AVX512-BF16, AMX),
    measured faster at the same accuracy (docs/performance.md); float32 on other CPUs and older GPUs."""
    if requested != "auto":
        return requested
    if strategy == "tpu":
        return "mixed_bfloat16"
    if gpu_compute_capabilities:
        return "mixed_float16" if all(cc >= (7, 0) for cc in gpu_compute_capabilities) else "float32"
    return "mixed_bfloat16" if cpu_bfloat16 else "float32"


def cpu_supports_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively; elsewhere bfloat16 is emulated, and slow."""
    try:
        flags = set(open(cpuinfo).read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def jit_compile(xla: str) -> bool | str:
    """--xla auto|on|off as Keras's jit_compile; auto lets Keras compile on GPUs and TPUs only."""
    return {"auto": "auto", "on": True, "off": False}[xla]


def choose_steps_per_execution(requested: int | None, *, strategy: str, num_gpus: int) -> int:
    """Training steps per call into the TensorFlow runtime: many on a TPU, where each call is costly;
    eight on one device, measured 10-15% faster than one on a 2-core CPU for the small MNIST batches;
    one under the mirrored strategies, whose multi-step loop Keras 3's fit() cannot run
    ("You must feed a value for placeholder tensor ...")."""
    if requested:
        return requested
    return {"tpu": 50, "default": 8}.get(strategy, 1)


def _keras_compatible_multiworker_strategy():
    """MultiWorkerMirroredStrategy whose reduce() takes what Keras 3's fit() gives it.

    Keras 3 reduces a whole (images, labels) batch, and reduces scalar metrics with axis=0; the plain
    strategy rejects both (keras-team/keras#20585, tensorflow/tensorflow#72388). Reducing each element,
    over the replicas alone for scalars, is what those calls mean.
    """
    import tensorflow as tf

    class KerasCompatibleMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return super(KerasCompatibleMultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, v, axis if rank else None
                )

            return tf.nest.map_structure(one, value)

    return KerasCompatibleMultiWorkerMirroredStrategy


def make_strategy(kind: str, *, tpu: str | None, collective_timeout: float):
    """Create the strategy. Call this before any other TensorFlow op: multi-worker collectives must be
    configured at program start-up."""
    import tensorflow as tf

    if kind == "tpu":
        # "local": the TPU VM this process runs on, as Vertex AI's TPU jobs are (Vertex AI's own samples
        # do this; tensorflow/models#10735 shows the "Please provide a TPU Name" failure without it).
        name = tpu or os.environ.get("TPU_NAME") or "local"
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except Exception as e:  # noqa: BLE001 - a name the metadata server cannot resolve, no TPU, no runtime
            cause = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise AcceleratorMissing(f"TPU {name}: cannot connect to it ({cause}); on a TPU VM pass no --tpu "
                                     "(the VM's own TPU is used), else the name of a TPU this machine can reach") from None  # fmt: skip
        return tf.distribute.TPUStrategy(resolver)
    if kind == "multiworker":
        # A bounded wait: a worker whose peer died fails with an error instead of hanging forever.
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
        return _keras_compatible_multiworker_strategy()(communication_options=options)
    if kind == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def describe(strategy, kind: str, *, num_workers: int, num_gpus: int) -> str:
    """One log line: which strategy, over how many of what."""
    replicas = strategy.num_replicas_in_sync
    if kind == "tpu":
        return f"strategy: TPUStrategy over {replicas} TPU cores"
    if kind == "multiworker":
        return f"strategy: MultiWorkerMirroredStrategy over {replicas} replicas on {num_workers} workers"
    if kind == "mirrored":
        devices = strategy.extended.worker_devices
        return f"strategy: MirroredStrategy over {replicas} {'GPUs' if all('GPU' in d for d in devices) else 'devices'}"
    return f"strategy: default (one {'GPU' if num_gpus else 'CPU'})"


# ---------------------------------------------------------------- the hardware the job was given

ACCELERATORS = ("auto", "cpu", "gpu", "tpu")
TPU_DEVICES = ("/dev/accel*", "/dev/vfio/[0-9]*")  # a TPU VM's chips: accel on v2-v4 and v5p, vfio on v5e and v6e


class AcceleratorMissing(Exception):
    """The job was given a GPU or TPU that TensorFlow cannot see: fail before anything is billed for nothing."""


def tpu_devices() -> list[str]:
    """The TPU chips this machine exposes (Cloud TPU VMs: /dev/accel*, /dev/vfio/N)."""
    return sorted(path for pattern in TPU_DEVICES for path in glob.glob(pattern))


def check_accelerator(
    requested: str,
    *,
    num_gpus: int,
    tpu_chips: list[str],
    tpu_name: str | None,
    build_info: Mapping,
    has_libtpu: bool = True,
) -> None:
    """Raise AcceleratorMissing when --accelerator gpu or tpu names hardware this process does not have.

    A GPU that TensorFlow does not register usually means its CUDA or cuDNN libraries are missing or
    are not the versions TensorFlow was built against (tensorflow/tensorflow#81344, #88348).
    """
    if requested == "gpu" and not num_gpus:
        if build_info.get("is_cuda_build"):
            cause = (
                f"this TensorFlow was built for CUDA {build_info.get('cuda_version')} and cuDNN "
                f"{build_info.get('cudnn_version')} and did not find them, or found no NVIDIA driver; "
                "run the image ./submit.sh build makes (tensorflow[and-cuda]) on a GPU machine type"
            )
        else:
            cause = "this TensorFlow is a CPU-only build; install tensorflow[and-cuda]"
        raise AcceleratorMissing(f"--accelerator gpu: TensorFlow sees no GPU, only the CPU; {cause}")
    if requested == "tpu" and tpu_chips and not has_libtpu:
        raise AcceleratorMissing(
            f"--accelerator tpu: this machine has TPU chips ({', '.join(tpu_chips)}) but no libtpu, "
            "the TPU runtime; run the image ./submit.sh build --tpu makes (tensorflow-tpu, libtpu)"
        )
    if requested == "tpu" and not tpu_chips and not tpu_name:
        raise AcceleratorMissing(
            "--accelerator tpu: this machine has no TPU (no /dev/accel* or /dev/vfio/* device, "
            "TPU_NAME unset); submit with a TPU machine type (ct5lp-hightpu-4t, cloud-tpu) "
            "and the image ./submit.sh build --tpu makes"
        )
