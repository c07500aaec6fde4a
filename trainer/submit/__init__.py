"""Build the container and run the trainer as Vertex AI jobs, or the same jobs on this machine.

    ./submit.sh build                      # Cloud Build: image to Artifact Registry
    ./submit.sh train --stage conv         # a CustomJob on a GPU
    ./submit.sh tune --max-trials 20       # a HyperparameterTuningJob from hptuning.yaml
    ./submit.sh local --stage dense        # the job as Vertex would run it, here
    ./submit.sh tune --local --max-trials 4

Flags the submitter does not know are passed to the trainer. Settings come from flags, then the
environment (PROJECT_ID, REGION, BUCKET, REPOSITORY, IMAGE, TAG, IMAGE_URI, SERVICE_ACCOUNT).

One module per job: settings (flags and environment), machines (machine and accelerator specs,
worker pools), study (hptuning.yaml, trials, metric files), local (jobs on this machine), vertex
(jobs through the aiplatform SDK), build (Cloud Build), cli (the command line).
"""
