"""A path longer than the file system takes (255 bytes a name), wherever a command reads one: one line, exit 2.
Python 3.11's pathlib raises OSError (ENAMETOOLONG) from is_dir(), is_file() and exists() where os.path answers
False; each of these was a traceback."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_DIR, SAMPLE_TEST_IMAGES

from trainer import predict, task
from trainer.submit import cli, container

LONG = "x" * 300
IMAGES = str(SAMPLE_TEST_IMAGES)
CASES = {
    "trainer-data-dir": (task.main, ["--data-dir", LONG], f"error: {LONG}: no such folder; pass --data-dir a folder"),
    "predict-model-dir": (predict.main, ["--model-dir", LONG, IMAGES], f"error: --model-dir {LONG}: no such folder"),
    "predict-input": (predict.main, ["--model-dir", str(SAMPLE_DIR), f"/tmp/{LONG}"], f"error: /tmp/{LONG}: no such file"),
    "serve-local-model-dir": (cli.main, ["serve", "--local", "--model-dir", LONG], f"error: --model-dir {LONG}: no saved_model.pb there"),
    "local-output-dir": (cli.main, ["local", "--output-dir", LONG], f"error: --output-dir {LONG}: cannot hold the job's outputs (File name too long)"),
}  # fmt: skip


@pytest.mark.parametrize("main, argv, line", CASES.values(), ids=CASES.keys())
def test_a_name_too_long_for_the_file_system_is_one_line_wherever_a_path_is_read(
    main, argv, line, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # anything written would land here
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(line), err
    assert list(tmp_path.iterdir()) == []


def test_a_trainer_flag_naming_a_path_too_long_is_passed_to_the_container_unmounted(tmp_path):
    """local --container mounts each local path among the trainer's flags; one too long for a name is no path here."""
    volumes, args = container._mounts(tmp_path, ["--data-dir", f"/tmp/{LONG}"])
    assert args == ["--data-dir", f"/tmp/{LONG}"] and volumes == [f"{tmp_path.resolve()}:{tmp_path.resolve()}"]
