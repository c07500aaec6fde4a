#!/usr/bin/env bash
# Build the image, submit Vertex AI training and tuning jobs, or run the same jobs locally.
#   ./submit.sh build | train | tune | local | status | list | cancel | serve | deploy | predict | undeploy | logs [flags]
# Backed by `python -m trainer.submit`; settings from flags, then PROJECT_ID, REGION, BUCKET, ...
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
python="${PYTHON:-python3}"
if [[ -x .venv/bin/python && -z "${PYTHON:-}" ]]; then
  python=.venv/bin/python
fi
exec "$python" -m trainer.submit "$@"
