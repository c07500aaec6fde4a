#!/usr/bin/env bash
# GPU check, for the device machine: conv and batchnorm stages on the real MNIST, full budget,
# float32 then mixed precision. Prints images/s, seconds to 99% test accuracy and final accuracy.
#   bash benchmarks/gpu_check.sh [DATA_DIR]           (about 5 minutes on one recent GPU)
# DATA_DIR: the four MNIST files (default: the trainer's own source, gs://cvdf-datasets/mnist/).
# Needs TensorFlow with CUDA on the machine; installs this package on top without touching it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data_dir="${1:-gs://cvdf-datasets/mnist/}"
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"

python3 -m pip install -q --no-deps -e . 2>&1 | tail -n 2
python3 -c "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU'); assert gpus, 'no GPU visible'; \
print('GPU:', tf.config.experimental.get_device_details(gpus[0]).get('device_name'), '| TensorFlow', tf.__version__)"

for stage in conv batchnorm; do
  for precision in float32 mixed_float16; do
    job="$out/$stage-$precision"
    python3 -m trainer.task --stage "$stage" --precision "$precision" --data-dir "$data_dir" \
      --job-dir "$job" --no-plots > "$job.log" 2>&1 || { tail -n 20 "$job.log"; exit 1; }
    python3 - "$job/metrics.json" "$stage" "$precision" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
to_99 = next((e["seconds"] for e in m["epochs"] if e["val_accuracy"] >= 0.99), None)
print(f"{sys.argv[2]:<10} {sys.argv[3]:<14} {m['images_per_second']:>9,.0f} images/s  "
      f"99% after {'-' if to_99 is None else f'{to_99:.1f} s':>7}  final {m['test_accuracy']:.2%}")
PY
  done
done
