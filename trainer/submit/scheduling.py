"""How long a job may run, how it waits for capacity, and the labels it carries: --timeout, --flex-start,
--max-wait and --labels, each checked here before anything is sent.

- Scheduling.timeout: Vertex AI's default is 7 days, so a hung job bills for a week
  (googleapis/python-aiplatform#1032); an MNIST job is minutes, so the default here is 24 hours.
- Dynamic Workload Scheduler (Scheduling.Strategy.FLEX_START, Scheduling.max_wait_duration): "Your custom
  training job requests L4, A100, H100, H200, or B200 GPUs", "has a maximum timeout of 7 days or less", and
  max_wait_duration 0 waits indefinitely, 1 day by default
  (https://cloud.google.com/vertex-ai/docs/training/schedule-jobs-dws).
- Labels: "keys and values can be no longer than 64 characters (Unicode codepoints), can only contain
  lowercase letters, numeric characters, underscores and dashes" (aiplatform_v1.CustomJob.labels); keys start
  with a lowercase letter and at most 64 labels per resource (Resource Manager's label requirements).
  International characters, which Vertex AI allows, are refused here for simplicity.
"""

from __future__ import annotations

import re

from trainer.submit.errors import SubmitError
from trainer.values import shown

DEFAULT_TIMEOUT = "24h"
SEVEN_DAYS = 7 * 24 * 3600
LONGEST = 30 * 24 * 3600  # our cap on --timeout and --max-wait: far above an MNIST job, far below protobuf's Duration
TOOL_LABEL = ("tool", "mnist-vertex-trainer")  # on everything this tool creates: `list` finds them by it
FLEX_START_GPUS = {  # the accelerator types of L4, A100, H100, H200 and B200 GPUs
    "NVIDIA_L4", "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_H100_80GB", "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB", "NVIDIA_B200",
}  # fmt: skip
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def seconds(flag: str, text: str, zero: bool = False) -> int:
    """90m, 2h, 1d, 3600s (or a plain number of seconds) as whole seconds, from 1 (or 0 if zero allows it) to 30
    days."""
    match = re.fullmatch(r"(\d{1,12}(?:\.\d{1,9})?)([smhd]?)", text.strip())
    value = round(float(match.group(1)) * UNITS[match.group(2) or "s"]) if match else -1
    if not (0 if zero else 1) <= value <= LONGEST:
        least = "0 (no limit)" if zero else "1s"
        raise SubmitError(f"{flag} {shown(text)}: not a duration from {least} to 30d; write e.g. 90m, 2h or 1d")
    return value


def labels(text: str | None) -> dict[str, str]:
    """--labels k=v,k2=v2, checked, with the tool's own label added (a label of the same key is refused: `list`
    finds this tool's jobs by it)."""
    if text is not None and not text.strip():  # `--labels "$UNSET"`: refused, as an empty setting is
        raise SubmitError(f"--labels {shown(text)}: empty; pass KEY=VALUE[,KEY=VALUE...], or drop the flag")
    found = dict([TOOL_LABEL])
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        key, eq, value = pair.strip().partition("=")
        if not eq or not LABEL_KEY.fullmatch(key) or not LABEL_VALUE.fullmatch(value):
            raise SubmitError(
                f"--labels {shown(pair.strip())}: a label is key=value, the key 1-63 lowercase letters, digits, _ or - "
                "starting with a letter, the value up to 63 of the same"
            )
        if key == TOOL_LABEL[0]:
            raise SubmitError(
                f"--labels {pair.strip()}: {TOOL_LABEL[0]} is this tool's own label ({TOOL_LABEL[0]}={TOOL_LABEL[1]}), "
                "by which list finds its jobs; choose another key"
            )
        if key == "source":
            raise SubmitError(f"--labels {pair.strip()}: source is set by this tool, to the source tag of the image a "
                              "job runs; choose another key")  # fmt: skip
        if key in found:  # was: the last value kept, the first silently lost
            raise SubmitError(f"--labels {shown(text or '')}: {key} given twice; keep one {key}=VALUE")
        found[key] = value
    if len(found) > 63:  # and source=, on a job whose image is addressed by its source
        raise SubmitError(
            f"--labels: {len(found)} labels with the tool's own; Vertex AI takes at most 64, one of them source"
        )
    return found


def check_flex_start(accelerator_type: str | None, machine_type: str, spot: bool, timeout: int) -> None:
    """Refuse what Dynamic Workload Scheduler does not take: Spot VMs, machines without an L4, A100, H100, H200
    or B200 GPU, a timeout over 7 days."""
    if spot:
        raise SubmitError("--flex-start with --spot: a job waits for capacity or runs on Spot VMs, not both; drop one")
    if accelerator_type not in FLEX_START_GPUS:
        raise SubmitError(
            f"--flex-start on {machine_type}"
            + (f" with {accelerator_type}" if accelerator_type else " without a GPU")
            + ": Dynamic Workload Scheduler takes L4, A100, H100, H200 or B200 GPUs only "
            "(e.g. --machine-type g2-standard-8 or a2-highgpu-1g)"
        )
    if timeout > SEVEN_DAYS:
        raise SubmitError("--flex-start with --timeout over 7 days: Dynamic Workload Scheduler takes at most 7 days")
