"""The trainer's readers of a user's values, as argparse types, and how an error line shows a value.

Each refuses in one line that names what was given; argparse adds the flag. The launcher shares them
(`shown`, `folder`, `gs_problem`), so the two commands refuse a value in the same words.
"""

from __future__ import annotations

import argparse
import math

from trainer import stages
from trainer.paths import bucket_problem


def shown(text: str) -> str:
    """A user's value as an error line shows it: as typed, or quoted with escapes when it is empty, starts or ends
    with a space or holds a line break or another unprintable character, so that the error stays one line and names
    what was given."""
    return text if text and text.isprintable() and text == text.strip() else repr(text)


def gs_problem(uri: str) -> str | None:
    """What makes a gs:// URI unusable before any request (its bucket's name, an unprintable character), or None."""
    name = uri.removeprefix("gs://").partition("/")[0]
    why = bucket_problem(name)
    if why:
        return f"{shown(name)} is not a bucket name ({why})"
    return None if uri.isprintable() else "holds a line break or another unprintable character"


def metric_id(text: str) -> str:
    """A metric ID as Vertex AI's StudySpec.MetricSpec takes it: not empty, no whitespace (nor anything unprintable)."""
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"not a metric ID (characters without whitespace), got {shown(text) or repr(text)}"
        )
    return text


def positive(kind):
    """A parser for numbers > 0. Integers may be written 64.0: tuning services send discrete values as floats."""

    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):  # inf would train to NaN; nan compares false with everything
            raise argparse.ArgumentTypeError(f"must be a finite number, got {shown(text)}")
        if kind is int and not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {shown(text)}")
        return kind(value)

    return parse


def seed(text: str) -> int:
    """A seed numpy and TensorFlow both take: a whole number in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and {2**32 - 1}, got {shown(text)}")
    return value


def fraction(text: str) -> float:
    value = positive(float)(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {shown(text)}")
    return value


def decay(text: str) -> float:
    value = positive(float)(text)
    if not value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {shown(text)}")
    return value


def folder(text: str) -> str:
    """An argparse type for a folder flag that has a default (the trainer's, the launcher's --output-dir): a blank
    one (`--model-dir "$UNSET"`) is refused, not taken for the current folder or replaced by the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a folder; pass one, or drop the flag for the default")
    return text


def stage(text: str) -> stages.Stage:
    try:
        return stages.resolve_stage(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose refusals are one line naming the flag, exit 2: the usage is a --help away."""

    def error(self, message: str):  # type: ignore[override]  # argparse's NoReturn: exit() never returns
        self.exit(2, f"{self.prog}: error: {message}\n")
