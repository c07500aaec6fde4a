"""The docs stay true: every `./submit.sh ...` and `python -m trainer....` command line in the README and docs/
is accepted by the parser of the command it names."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest
from conftest import REPO

from trainer import config, predict
from trainer.submit import cli

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(r"(\./submit\.sh|python -m trainer\.(?:task|predict|submit))\b")
SHELL_VALUES = {"$BUCKET": "gs://demo-bucket", "$PROJECT_ID": "demo-project", "$REGION": "us-central1", "DIR": "d"}


def _commands() -> list[tuple[str, str]]:
    """(page:line, command line) for each command in a fenced code block or an inline code span."""
    found = []
    for page in PAGES:
        fenced = False
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
                continue
            spans = [line] if fenced else re.findall(r"`([^`]+)`", line)
            for span in spans:
                for part in re.split(r"&&|;|\|", span.split(" #")[0]):
                    match = COMMAND.search(part)
                    if match and not part[: match.start()].strip(" ("):
                        found.append((f"{page.name}:{number}", part[match.start() :].strip(" )")))
    return found


class Refused(Exception):
    pass


def _parse(parser: argparse.ArgumentParser, argv: list[str], known: bool = False):
    def refuse(message: str):
        raise Refused(message)

    parser.error = refuse  # instead of printing usage and exiting
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.error = refuse
    return parser.parse_known_args(argv) if known else parser.parse_args(argv)


def _check(command: str) -> None:
    words = [SHELL_VALUES.get(w, w) for w in shlex.split(command)]
    if len(words) == 1 + (words[0] == "python") * 2 or words[-1] == "...":
        return  # the command's name, mentioned in the text
    words = [w.replace('"$BUCKET', "gs://demo-bucket").replace("$BUCKET", "gs://demo-bucket") for w in words]
    if any(w.startswith("[") or w.endswith("]") or w == "..." for w in words):
        words = [w for w in words if not (w.startswith("[") or w.endswith("]") or w == "...")]  # optional parts
    if words[0] == "./submit.sh" or words[:3] == ["python", "-m", "trainer.submit"]:
        argv = words[1:] if words[0] == "./submit.sh" else words[3:]
        if argv == ["COMMAND"] or "--help" in argv:
            return
        parsed, rest = _parse(cli.parser(), argv, known=True)
        if not parsed.takes_trainer_flags:
            assert not rest, f"unknown arguments {rest}"
        else:
            _parse(config.build_parser(), rest)
    elif words[2] == "trainer.task":
        _parse(config.build_parser(), words[3:])
    else:
        _parse(predict.build_parser(), words[3:])


COMMANDS = _commands()


def test_the_docs_show_commands_of_every_kind():
    kinds = {COMMAND.search(c).group(1) for _, c in COMMANDS}
    assert kinds >= {"./submit.sh", "python -m trainer.task", "python -m trainer.predict"} and len(COMMANDS) > 40


@pytest.mark.parametrize("where, command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_each_command_in_the_docs_is_accepted_by_its_parser(where, command):
    try:
        _check(command)
    except Refused as e:
        pytest.fail(f"{where}: {command!r}: {e}")
