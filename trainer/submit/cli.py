"""./submit.sh, put together: the command line parsed (each command's flags are in trainer/submit/commands/), the
command's frozen options built from it, then its run; any error, a bad setting or an answer from the cloud, becomes
one line here, exit 2.

Each command imports the heavy packages it needs (the aiplatform SDK, Optuna, Cloud Logging) where it uses them,
so --help, `local` and a dry run start in about a second.
"""

from __future__ import annotations

import argparse
import sys

import requests
from google.api_core import exceptions

import trainer.submit
from trainer.submit import errors
from trainer.submit.commands import COMMANDS
from trainer.submit.commands.shared import Parser, settings_of
from trainer.values import shown


def parser() -> argparse.ArgumentParser:
    """./submit.sh's flags; the ones it does not know are the trainer's (parse_known_args)."""
    root = Parser(prog="./submit.sh", description=(trainer.submit.__doc__ or "").splitlines()[0],
                  epilog="Other flags go to the trainer, e.g. --stage conv --epochs 5.")  # fmt: skip
    commands = root.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands)
    return root


def _refusal(a: argparse.Namespace, trainer_args: list[str]) -> str | None:
    """What the command line asks that this command does not take, or None."""
    if trainer_args and not a.takes_trainer_flags:
        return f"./submit.sh {a.command}: unknown arguments {' '.join(map(shown, trainer_args))}"
    if getattr(a, "dry_run", False) and not a.has_dry_run:
        return f"--dry-run: ./submit.sh {a.command} has none (its requests depend on each other's answers)"
    return None


def main(argv: list[str] | None = None) -> int:
    """`./submit.sh COMMAND [flags]`: returns the exit status (2 for a bad setting or an error the cloud
    answered, reported in one line)."""
    try:
        a, trainer_args = parser().parse_known_args(argv)
    except SystemExit as e:  # --help (0), or argparse's one-line refusal (2), already printed
        return int(e.code or 0)
    refusal = _refusal(a, trainer_args)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        return a.run(a.options(a, trainer_args))
    except errors.SubmitError as e:  # one line whatever a value held (its parser quotes it; this is the backstop)
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except errors.StoppedWaiting as e:
        print(str(e), file=sys.stderr)
        return 130
    except exceptions.GoogleAPICallError as e:  # what the API answered: one line, whichever request it was
        print(f"error: {errors.explain(e, settings_of(a, need_bucket=False))}", file=sys.stderr)
        return 2
    except (requests.exceptions.ConnectionError, exceptions.RetryError) as e:  # no answer at all
        print(f"error: {errors.unreachable(e, settings_of(a, need_bucket=False))}", file=sys.stderr)
        return 2
