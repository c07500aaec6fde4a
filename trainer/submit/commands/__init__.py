"""./submit.sh's commands, one module per command or family, each with its flags (`add_*`), its frozen options
built from them, and its `run`; `set_defaults` on each parser says which (and whether it has a dry run and takes
the trainer's flags). Adding a command: its module, and one line below, in the order `--help` lists them."""

from trainer.submit.commands import here, images, jobs, predictions, project, tracking

COMMANDS = (
    project.add_setup,
    project.add_doctor,
    images.add_build,
    jobs.add_train,
    jobs.add_tune,
    predictions.add_deploy,
    predictions.add_predict,
    predictions.add_undeploy,
    tracking.add_logs,
    predictions.add_batch_predict,
    here.add_serve,
    tracking.add_status,
    tracking.add_list,
    tracking.add_cancel,
    here.add_local,
)
