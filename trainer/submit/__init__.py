"""Build the containers and run the trainer as Vertex AI jobs, or the same jobs on this machine; serve the model.

    ./submit.sh build                      # Cloud Build: the training and serving images to Artifact Registry
    ./submit.sh build --local [--serving]  # the same images built here with podman
    ./submit.sh train --stage conv         # a CustomJob on a GPU (--deploy: then serve its model)
    ./submit.sh tune --max-trials 20       # a HyperparameterTuningJob from hptuning.yaml (--deploy: the best)
    ./submit.sh local --stage dense        # the job as Vertex would run it, here (--container: in the image)
    ./submit.sh tune --local --max-trials 4
    ./submit.sh status JOB | list | cancel JOB              # the way back to a job
    ./submit.sh serve --local --model-dir DIR               # the serving image here, as an endpoint runs it
    ./submit.sh deploy --model-dir gs://BUCKET/JOB/model    # Model Registry, endpoint, 100% of traffic
    ./submit.sh predict --endpoint ID digit.png             # one line per image
    ./submit.sh undeploy --endpoint ID --delete-endpoint    # stop the node-hour billing
    ./submit.sh logs JOB_ID --follow                        # the job's lines from Cloud Logging

Flags the submitter does not know are passed to the trainer. Settings come from flags, then the
environment (PROJECT_ID, REGION, BUCKET, REPOSITORY, IMAGE, TAG, IMAGE_URI, SERVICE_ACCOUNT, ...).

Each command is a module of trainer/submit/commands/ (its flags, options and run); cli.py parses and reports
errors in one line; docs/design.md maps the rest.
"""
