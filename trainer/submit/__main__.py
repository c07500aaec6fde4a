"""`python -m trainer.submit`, what ./submit.sh runs."""

import sys

from trainer import process

# The launcher's own packages, the `submit` extra (setup.py): `pip install -e .` alone leaves them out.
EXTRA_MODULES = (
    "yaml", "optuna", "google.cloud.aiplatform", "google.cloud.logging",  # aiplatform_v1 too
    "google.cloud.artifactregistry", "docker", "dockerfile_parse",
)  # fmt: skip


def run() -> int:
    try:
        from trainer.submit.cli import main

        return main()
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith(EXTRA_MODULES):
            raise
        print(
            f"error: ./submit.sh needs the launcher's packages, and {e.name} is not installed; "
            'run: pip install -e ".[submit]"',
            file=sys.stderr,
        )
        return 2


process.end(run())
