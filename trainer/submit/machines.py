"""What a job runs on: the machine and accelerator spec, and the worker pools Vertex AI expects."""

from __future__ import annotations

import re

from trainer.submit.settings import SubmitError

MACHINE_TYPE = re.compile(
    r"^(n1|n2|n2d|e2|c2|c2d|c3|m1|a2|a3|g2)-(standard|highmem|highcpu|highgpu|megagpu|ultragpu|edgegpu)-\d+g?$"
)


def machine_spec(args) -> dict:
    """The MachineSpec for --machine-type, --accelerator-type and --accelerator-count, as a dict."""
    from google.cloud import aiplatform_v1

    if not MACHINE_TYPE.match(args.machine_type):
        raise SubmitError(
            f"--machine-type {args.machine_type}: not a Compute Engine machine type (e.g. n1-standard-8, g2-standard-8)"
        )
    spec = {"machine_type": args.machine_type}
    if args.accelerator_count:
        if args.accelerator_type not in aiplatform_v1.AcceleratorType.__members__ or args.accelerator_type.endswith(
            "UNSPECIFIED"
        ):
            raise SubmitError(
                f"--accelerator-type {args.accelerator_type}: unknown; e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100"
            )
        spec.update(accelerator_type=args.accelerator_type, accelerator_count=args.accelerator_count)
    return spec


def worker_pool_specs(image_uri: str, trainer_args: list[str], spec: dict, replicas: int) -> list[dict]:
    """A chief pool of one replica, then the other workers, as Vertex AI requires for multi-worker jobs."""
    pool = {"machine_spec": spec, "container_spec": {"image_uri": image_uri, "args": trainer_args}}
    pools = [{**pool, "replica_count": 1}]
    if replicas > 1:
        pools.append({**pool, "replica_count": replicas - 1})
    return pools
