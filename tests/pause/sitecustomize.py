"""Test-only: holds a trainer process at the start of an epoch until the test says go, so that a kill, a
SIGTERM, a Ctrl-C or the median rule lands at a point the test chooses, however fast the CPU trains.

Active only in `python -m trainer.task` processes started with this folder on PYTHONPATH and PAUSE set:

    PAUSE="start"                           hold at start-up, before TensorFlow loads; SIGTERM then ends the
                                            process as it would a trainer that has not started yet
    PAUSE="epoch=1"                         hold before epoch 2 (after epoch 1's backup and metric report)
    PAUSE="epoch=0;from_trial=3"            hold tuning trials 3, 4, ... before their first epoch
    PAUSE="start;from_trial=2"              hold tuning trials 2, 3, ... at start-up
    PAUSE="epoch=1;arg=--learning-rate=1e-07"   hold only trials run with that flag
    PAUSE="export"                          hold after training, before the model is exported and swapped in
    PAUSE_DIR=DIR                           where the process writes `held-ROLE-PID`; it goes on when
                                            DIR/go exists, or when SIGTERM arrives (then the trainer
                                            stops at its next step, as it would mid-epoch)

Python imports sitecustomize at start-up; the trainer's preemption (or export) module is wrapped once it is imported.
"""

import os
import sys

if os.environ.get("PAUSE") and "trainer.task" in getattr(sys, "orig_argv", []):
    import importlib.abc
    import importlib.util
    import json
    import signal
    import time
    from pathlib import Path

    SPEC = dict(item.partition("=")[::2] for item in os.environ["PAUSE"].split(";"))
    FOLDER = Path(os.environ["PAUSE_DIR"])

    def _chosen() -> bool:
        if "from_trial" in SPEC and int(os.environ.get("CLOUD_ML_TRIAL_ID") or 0) < int(SPEC["from_trial"]):
            return False
        return "arg" not in SPEC or SPEC["arg"] in sys.argv

    def _applies(epoch: int) -> bool:
        return epoch == int(SPEC["epoch"]) and _chosen()

    def _role() -> str:
        if os.environ.get("CLOUD_ML_TRIAL_ID"):
            return f"trial{os.environ['CLOUD_ML_TRIAL_ID']}"
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
        return f"{task.get('type', 'chief')}{task.get('index', 0)}"

    def _hold() -> None:
        terminated = []
        previous = signal.getsignal(signal.SIGTERM)

        def note(signum, frame):
            terminated.append(signum)
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, note)
        (FOLDER / f"held-{_role()}-{os.getpid()}").touch()
        while not terminated and not (FOLDER / "go").exists():
            time.sleep(0.05)
        signal.signal(signal.SIGTERM, previous)

    def _wrap_backup(module) -> None:
        original = module.Backup.on_epoch_begin

        def on_epoch_begin(self, epoch, logs=None):
            if _applies(epoch):
                _hold()
            return original(self, epoch, logs)

        module.Backup.on_epoch_begin = on_epoch_begin

    def _wrap_export(module) -> None:
        original = module.export_model

        def export_model(*args, **kwargs):
            if _chosen():
                _hold()
            return original(*args, **kwargs)

        module.export_model = export_model

    WRAPPED, WRAP = ("trainer.export", _wrap_export) if "export" in SPEC else ("trainer.preemption", _wrap_backup)

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != WRAPPED:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                WRAP(module)

            spec.loader.exec_module = exec_module
            return spec

    if "start" in SPEC:
        if _chosen():
            _hold()
            if not (FOLDER / "go").exists():  # SIGTERM: end as the default action would
                os.kill(os.getpid(), signal.SIGTERM)
    else:
        sys.meta_path.insert(0, _Finder())
