"""Vertex AI's prebuilt TensorFlow prediction images, which `deploy --serving-image` can still serve a model
with, and the dates after which Vertex AI no longer offers them.

The dates are Vertex AI's framework support policy for prebuilt prediction containers
(https://cloud.google.com/vertex-ai/docs/framework-support-policy, "Support policy schedule"): every
TensorFlow 2.14 and 2.15 image, CPU and GPU, ended patches and support on 2026-01-14, and ends
availability on 2027-01-14. A deploy with an image past its end of availability is refused; within 90 days
of it, it gets a warning. The default is our own image (Dockerfile.serving), on the training TensorFlow.
"""

from __future__ import annotations

import datetime
import re

from trainer.submit.errors import SubmitError

SERVING_TENSORFLOW = "2.15"  # the newest TensorFlow of the prebuilt images (the SDK's helper lists no newer)
END_OF_AVAILABILITY = {  # prebuilt image (its name in Artifact Registry) -> the last day Vertex AI offers it
    "tf2-cpu.2-15": datetime.date(2027, 1, 14),
    "tf2-gpu.2-15": datetime.date(2027, 1, 14),
    "tf2-cpu.2-14": datetime.date(2027, 1, 14),
    "tf2-gpu.2-14": datetime.date(2027, 1, 14),
}
WARN_DAYS = 90


def check(image: str, today: datetime.date) -> str | None:
    """For a prebuilt image in the table: a warning within WARN_DAYS of its end of availability; SubmitError
    past it. None for any other image (ours, or one the table does not list)."""
    match = re.search(r"/prediction/(tf2-(?:cpu|gpu)\.2-\d+):", image)
    ends = END_OF_AVAILABILITY.get(match.group(1)) if match else None
    if match is None or ends is None:
        return None
    if today > ends:
        raise SubmitError(
            f"--serving-image {image}: Vertex AI stopped offering {match.group(1)} on {ends:%Y-%m-%d}; "
            "drop --serving-image to serve with this project's own image (./submit.sh build)"
        )
    if (ends - today).days <= WARN_DAYS:
        return (
            f"warning: --serving-image {match.group(1)} ends its availability on {ends:%Y-%m-%d}, in "
            f"{(ends - today).days} days; after that an endpoint cannot be deployed with it. Drop --serving-image "
            "to serve with this project's own image."
        )
    return None
