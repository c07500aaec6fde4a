"""Build the container and run the trainer as Vertex AI jobs, or the same jobs on this machine; serve the model.

    ./submit.sh build                      # Cloud Build: image to Artifact Registry
    ./submit.sh build --local              # the same image built here with podman
    ./submit.sh train --stage conv         # a CustomJob on a GPU (--deploy: then serve its model)
    ./submit.sh tune --max-trials 20       # a HyperparameterTuningJob from hptuning.yaml
    ./submit.sh local --stage dense        # the job as Vertex would run it, here (--container: in the image)
    ./submit.sh tune --local --max-trials 4
    ./submit.sh deploy --model-dir gs://BUCKET/JOB/model    # Model Registry, endpoint, 100% of traffic
    ./submit.sh predict --endpoint ID digit.png             # one line per image
    ./submit.sh undeploy --endpoint ID --delete-endpoint    # stop the node-hour billing
    ./submit.sh logs JOB_ID --follow                        # the job's lines from Cloud Logging

Flags the submitter does not know are passed to the trainer. Settings come from flags, then the
environment (PROJECT_ID, REGION, BUCKET, REPOSITORY, IMAGE, TAG, IMAGE_URI, SERVICE_ACCOUNT).

One module per job: settings (flags and environment), machines (machine and accelerator specs,
worker pools), study (hptuning.yaml, trials, metric files), sweep (local tuning), local (jobs on this
machine), container (podman), vertex (jobs through the aiplatform SDK), serving (deploy, undeploy),
online (predict), logs (Cloud Logging), build (Cloud Build), cli (the command line).
"""
