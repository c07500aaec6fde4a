"""What a command was asked to do, as frozen values built once by cli from the command line: nothing below
cli sees argparse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer.submit.machines import Machine
from trainer.submit.settings import SubmitError


@dataclass(frozen=True)
class JobOptions:
    """A training job, or the trials of a tuning job."""

    display_name: str | None
    machine: Machine | None  # None: tune keeps hptuning.yaml's trial machine
    replicas: int
    spot: bool
    restart_on_worker_restart: bool
    dry_run: bool
    no_wait: bool = False
    timeout: int = 24 * 3600  # seconds: Scheduling.timeout
    labels: tuple[tuple[str, str], ...] = ()  # on the job, with the tool's own
    flex_start: bool = False  # Dynamic Workload Scheduler
    max_wait: int | None = None  # seconds; with flex_start: Scheduling.max_wait_duration


@dataclass(frozen=True)
class TuneOptions:
    config: Path
    max_trials: int | None
    parallel_trials: int | None
    local: bool
    container: bool
    output_dir: Path | None


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
    labels: tuple[tuple[str, str], ...] = ()  # on the model and on an endpoint it creates

    def check(self) -> None:
        """One line for an impossible setting, before anything is sent (for `train --deploy`, before the job is)."""
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
    labels: tuple[tuple[str, str], ...] = ()
