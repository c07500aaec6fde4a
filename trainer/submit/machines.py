"""What a job runs on: Vertex AI's compute table, the MachineSpec checked against it, and the worker pools.

The table is Vertex AI's "Configure compute resources for custom training"
(https://cloud.google.com/vertex-ai/docs/training/configure-compute): which GPU attaches to which
machine type and in what counts, and the TPU machine types with the topology each implies. The vCPU
limits of GPUs on N1 machines are Compute Engine's (https://cloud.google.com/compute/docs/gpus).
Every request is checked here first, so an impossible pair is one line, not a rejected request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trainer.submit.errors import SubmitError
from trainer.training_contract import IMAGE
from trainer.values import shown

# GPUs attached to N1 machines: count -> the most vCPUs the machine may have with that many.
N1_GPUS = {
    "NVIDIA_TESLA_T4": {1: 48, 2: 48, 4: 96},
    "NVIDIA_TESLA_V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "NVIDIA_TESLA_P100": {1: 16, 2: 32, 4: 96},
    "NVIDIA_TESLA_P4": {1: 24, 2: 48, 4: 96},
}
# Accelerator-optimized families: each machine type comes with a fixed number of one GPU.
# fmt: off
GPU_MACHINES = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)}, "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("NVIDIA_H100_MEGA_80GB", 8),
    "a3-ultragpu-8g": ("NVIDIA_H200_141GB", 8),
    "a4-highgpu-8g": ("NVIDIA_B200", 8),
    "a4x-highgpu-4g": ("NVIDIA_GB200", 4),
    **{f"g2-standard-{v}": ("NVIDIA_L4", n) for v, n in ((4, 1), (8, 1), (12, 1), (16, 1), (32, 1), (24, 2), (48, 4), (96, 8))},
    **{f"g4-standard-{v}": ("NVIDIA_RTX_PRO_6000", n) for v, n in ((48, 1), (96, 2), (192, 4), (384, 8))},
}
# TPU machine types: (topology sent as tpu_topology, chips). v5e, v6e and v5p need no accelerator
# type; the older TPUs are machine type cloud-tpu with TPU_V2 or TPU_V3 x 8.
TPU_MACHINES = {
    "ct5lp-hightpu-1t": ("1x1", 1), "ct5lp-hightpu-4t": ("2x2", 4), "ct5lp-hightpu-8t": ("2x4", 8),
    "ct6e-standard-1t": ("1x1", 1), "ct6e-standard-4t": ("2x2", 4), "ct6e-standard-8t": ("2x4", 8),
    "ct5p-hightpu-4t": ("2x2x1", 4),
}
# fmt: on
CLOUD_TPU = {"TPU_V2": 8, "TPU_V3": 8}
CPU_MACHINE = re.compile(
    r"^(n1|n2|n2d|e2|c2|c2d|c3|c3d|c4|m1|m2|m3)-(standard|highmem|highcpu|megamem|ultramem)-(\d+)$"
)
GPU_FAMILIES = {
    "a2": "a2-highgpu-1g",
    "a3": "a3-highgpu-8g",
    "a4": "a4-highgpu-8g",
    "a4x": "a4x-highgpu-4g",
    "g2": "g2-standard-8",
    "g4": "g4-standard-48",
}  # an example of each, for error messages


@dataclass(frozen=True)
class Machine:
    """A checked machine: the MachineSpec to send, and what the trainer should expect to find (cpu, gpu or tpu)."""

    spec: dict
    accelerator: str


def _gpu_hint(accelerator: str) -> str:
    """Where an accelerator attaches, in words, for error messages."""
    if accelerator in N1_GPUS:
        return f"{accelerator} attaches to n1-* machines, {'/'.join(map(str, N1_GPUS[accelerator]))} at a time"
    types = [m for m, (a, _) in GPU_MACHINES.items() if a == accelerator]
    if types:
        return f"{accelerator} comes with {', '.join(types)} (the count is the machine's)"
    if accelerator in CLOUD_TPU:
        return f"{accelerator} attaches to machine type cloud-tpu, 8 at a time"
    return f"{accelerator} is not offered for custom training; see the table in trainer/submit/machines.py"


def check_machine(machine_type: str, accelerator_type: str | None, accelerator_count: int | None) -> Machine:
    """The MachineSpec for this machine, accelerator and count, checked against Vertex AI's table.

    A missing accelerator is filled in where the machine type implies one (its own GPUs, its TPU
    topology); an impossible pair raises SubmitError naming it and what would work.
    """
    given = [("--accelerator-type", accelerator_type), ("--accelerator-count", accelerator_count)]
    pair = " ".join(
        [f"--machine-type {shown(machine_type)}", *(f"{f} {shown(str(v))}" for f, v in given if v is not None)]
    )
    if machine_type in TPU_MACHINES:
        if accelerator_type or accelerator_count:
            raise SubmitError(f"{pair}: {machine_type} brings its own TPU chips; pass no --accelerator-type or -count")
        topology, _ = TPU_MACHINES[machine_type]
        return Machine({"machine_type": machine_type, "tpu_topology": topology}, "tpu")
    if machine_type == "cloud-tpu":
        if accelerator_type not in CLOUD_TPU or (accelerator_count or 8) != CLOUD_TPU[accelerator_type]:
            raise SubmitError(f"{pair}: cloud-tpu takes --accelerator-type TPU_V2 or TPU_V3 with --accelerator-count 8")
        return Machine(
            {"machine_type": machine_type, "accelerator_type": accelerator_type, "accelerator_count": 8}, "tpu"
        )
    if machine_type in GPU_MACHINES:
        gpu, count = GPU_MACHINES[machine_type]
        if (accelerator_type or gpu) != gpu or (accelerator_count or count) != count:
            raise SubmitError(
                f"{pair}: {machine_type} comes with {gpu} x {count}; pass those or no --accelerator flags"
            )
        return Machine({"machine_type": machine_type, "accelerator_type": gpu, "accelerator_count": count}, "gpu")
    cpu = CPU_MACHINE.match(machine_type)
    if not cpu:
        family = GPU_FAMILIES.get(machine_type.split("-")[0])
        example = f"e.g. {family}" if family else "e.g. n1-standard-8, g2-standard-8, ct5lp-hightpu-4t"
        raise SubmitError(f"--machine-type {shown(machine_type)}: not a machine type Vertex AI trains on ({example})")
    if not accelerator_count and accelerator_type is not None:  # was: a CPU job, the GPU asked for dropped
        raise SubmitError(f"--accelerator-type {shown(accelerator_type)} with --accelerator-count 0: pass a count "
                          "of at least 1, or no --accelerator-type for a job without GPUs")  # fmt: skip
    if not accelerator_count:
        return Machine({"machine_type": machine_type}, "cpu")
    if accelerator_type is None:
        raise SubmitError(f"--accelerator-count {accelerator_count}: {machine_type} has no GPU of its own; pass "
                          "--accelerator-type (e.g. NVIDIA_TESLA_T4 on n1), a GPU machine (e.g. g2-standard-8), or "
                          "--accelerator-count 0")  # fmt: skip
    if accelerator_type in N1_GPUS and cpu.group(1) == "n1":
        limits, vcpus = N1_GPUS[accelerator_type], int(cpu.group(3))
        if accelerator_count not in limits or vcpus > limits[accelerator_count]:
            fits = " or ".join(str(n) for n, most in limits.items() if vcpus <= most)
            takes = (
                f"{accelerator_type} x {fits}"
                if fits
                else f"no {accelerator_type} (up to {max(limits.values())} vCPUs with it)"
            )
            raise SubmitError(f"{pair}: {machine_type} ({vcpus} vCPUs) takes {takes}")
        spec = {
            "machine_type": machine_type,
            "accelerator_type": accelerator_type,
            "accelerator_count": accelerator_count,
        }
        return Machine(spec, "gpu")
    if (
        accelerator_type in N1_GPUS
        or accelerator_type in CLOUD_TPU
        or any(a == accelerator_type for a, _ in GPU_MACHINES.values())
    ):
        raise SubmitError(f"{pair}: {_gpu_hint(str(accelerator_type))}, not to {machine_type}")
    raise SubmitError(
        f"--accelerator-type {shown(str(accelerator_type))}: unknown; e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100"
    )


def machine_spec(machine_type: str | None, accelerator_type: str | None, count: int | None) -> Machine:
    """The checked Machine for --machine-type, --accelerator-type and --accelerator-count.
    Without any of the three: n1-standard-8 with one NVIDIA_TESLA_T4; an n1 machine without --accelerator-type
    takes T4s, one unless --accelerator-count says otherwise (0: none)."""
    machine_type = "n1-standard-8" if machine_type is None else machine_type  # --machine-type '' is refused
    if accelerator_type is not None and not accelerator_type.strip():  # was: taken for the machine's own, or none
        raise SubmitError(f"--accelerator-type {shown(accelerator_type)}: empty; pass a type (e.g. NVIDIA_TESLA_T4) "
                          "or drop the flag")  # fmt: skip
    if machine_type.startswith("n1-") and accelerator_type is None and count != 0:
        accelerator_type, count = "NVIDIA_TESLA_T4", count or 1
    if accelerator_type is not None and count is None and not machine_type.startswith(("a", "g", "ct", "cloud-tpu")):
        count = 1
    return check_machine(machine_type, accelerator_type, count)


def from_message(spec, where: str) -> Machine:
    """The checked Machine for an aiplatform_v1.MachineSpec, e.g. hptuning.yaml's trial machine; an error names
    WHERE it was read (the flags in the message are the fields of the same names)."""
    accelerator = spec.accelerator_type.name if spec.accelerator_type else None
    try:
        return check_machine(spec.machine_type, accelerator, spec.accelerator_count or None)
    except SubmitError as e:
        raise SubmitError(f"{where}: {e}") from None


def worker_pool_specs(image_uri: str, trainer_args: list[str], spec: dict, replicas: int) -> list[dict]:
    """A chief pool of one replica, then the other workers, as Vertex AI requires for multi-worker jobs."""
    env = [{"name": IMAGE, "value": image_uri}]  # metrics.json records the image the job ran
    pool = {"machine_spec": spec, "container_spec": {"image_uri": image_uri, "args": trainer_args, "env": env}}
    pools = [{**pool, "replica_count": 1}]
    if replicas > 1:
        pools.append({**pool, "replica_count": replicas - 1})
    return pools


def check_serving_machine(flag: str, machine_type: str) -> str:
    """A machine type an endpoint or a batch prediction of this model can run on: a CPU family of the compute table,
    or a GPU machine; one line (SubmitError) for anything else (a typo, a TPU machine, which needs a TPU serving
    image), before anything is uploaded."""
    if not (CPU_MACHINE.match(machine_type) or machine_type in GPU_MACHINES):
        raise SubmitError(f"{flag} {shown(machine_type)}: not a machine type this model is served on (a CPU "
                          "family, e.g. n1-standard-2 or e2-standard-4, or a GPU machine, e.g. g2-standard-8)")  # fmt: skip
    return machine_type


def check_strategy(distribute: str, accelerator: str, machine: Machine, replicas: int) -> None:
    """One line for trainer flags that contradict the job's machines, before they are paid for: --accelerator gpu
    or tpu on a machine without one (cpu runs without requiring it), and a --distribute the machines cannot run."""
    spec = machine.spec
    has = f"{spec['machine_type']}" + (f" with {spec['accelerator_type']}" if spec.get("accelerator_type") else "")
    if accelerator in ("gpu", "tpu") and accelerator != machine.accelerator:  # cpu: run without requiring one
        raise SubmitError(f"--accelerator {accelerator}: the job runs on {has} ({machine.accelerator}); drop the flag, "
                          "the launcher passes the machine's")  # fmt: skip
    if distribute == "tpu" and machine.accelerator != "tpu":
        raise SubmitError(f"--distribute tpu on {has}: TPUStrategy needs a TPU machine (e.g. ct5lp-hightpu-4t); "
                          "drop --distribute")  # fmt: skip
    if machine.accelerator == "tpu" and distribute not in ("auto", "tpu"):
        raise SubmitError(f"--distribute {distribute} on {has}: a TPU trains only under TPUStrategy (which auto "
                          "picks); drop --distribute")  # fmt: skip
    check_replicas(distribute, replicas)


def check_replicas(distribute: str, replicas: int) -> None:
    """One line for a one-machine strategy on several replicas (a job's machines, `local`'s processes)."""
    if replicas > 1 and distribute not in ("auto", "multiworker"):
        raise SubmitError(f"--distribute {distribute} with --replicas {replicas}: it trains on one machine, so each "
                          "would train alone; drop --distribute (auto picks multiworker)")  # fmt: skip
