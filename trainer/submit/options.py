"""What the request builders take (vertex, serving, batch): frozen values the commands build once, by keyword,
from the command line. Nothing here or below sees argparse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trainer.submit import names
from trainer.submit.errors import SubmitError
from trainer.submit.machines import Machine, check_serving_machine


@dataclass(frozen=True)
class JobOptions:
    """A training job, or each trial of a tuning job: its machine, how many, how long and how it is scheduled."""

    machine: Machine
    replicas: int
    spot: bool
    restart_on_worker_restart: bool
    timeout: int  # seconds: Scheduling.timeout (scheduling.DEFAULT_TIMEOUT unless --timeout)
    labels: Mapping[str, str]  # on the job, the tool's own among them (scheduling.labels)
    flex_start: bool = False  # Dynamic Workload Scheduler
    max_wait: int | None = None  # seconds; with flex_start: Scheduling.max_wait_duration


def _check_serving(model_name: str, machine_flag: str, machine_type: str, serving_image: str | None) -> None:
    """What deploy and batch-predict share: the model's name in the Model Registry, the machine that serves it and
    the image it is served with; one line (SubmitError) for the first that cannot work."""
    names.display_name("--model-name", model_name)
    check_serving_machine(machine_flag, machine_type)
    if serving_image:
        names.image_uri("--serving-image", serving_image)


@dataclass(frozen=True)
class DeployOptions:
    """The model's name in the Model Registry, the endpoint it goes to, and what serves it there."""

    model_name: str
    endpoint: str | None
    endpoint_name: str
    machine_type: str
    min_replicas: int
    max_replicas: int
    serving_image: str | None
    keep_previous: bool
    labels: Mapping[str, str]  # on the model and on an endpoint it creates

    def __post_init__(self) -> None:
        """One line for an impossible setting, before anything is sent (for `train --deploy`, before the job is)."""
        _check_serving(self.model_name, "--serving-machine-type", self.machine_type, self.serving_image)
        names.display_name("--endpoint-name", self.endpoint_name)
        if self.endpoint is not None:  # was: checked only by deploy, after train --deploy's job had run
            names.resource("--endpoint", self.endpoint, ["endpoints"])
        if self.min_replicas < 1 or self.max_replicas < self.min_replicas:
            raise SubmitError(
                f"--min-replicas {self.min_replicas} --max-replicas {self.max_replicas}: "
                "need 1 <= min <= max (Vertex AI keeps at least one replica of a deployed model)"
            )


@dataclass(frozen=True)
class BatchOptions:
    """A batch prediction: its inputs and output in Cloud Storage, the model (a folder to upload, or one in the
    Model Registry), and the machines."""

    display_name: str
    inputs: tuple[str, ...]
    output: str
    model_dir: str | None
    model: str | None  # NAME or NAME@VERSION
    model_name: str  # with model_dir
    serving_image: str | None  # with model_dir
    machine_type: str
    replicas: int
    labels: Mapping[str, str]

    def __post_init__(self) -> None:
        """One line for a name Vertex AI would refuse or the model lookup would misread."""
        names.display_name("--display-name", self.display_name)
        _check_serving(self.model_name, "--machine-type", self.machine_type, self.serving_image)
        if self.model:
            names.display_name("--model", self.model.partition("@")[0])
