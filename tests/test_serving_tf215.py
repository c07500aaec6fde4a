"""The export loads and serves in Vertex AI's newest prebuilt TensorFlow prediction image (TensorFlow 2.15):
each stage's model, in float32 and in each mixed precision the trainer trains in, exported by this
TensorFlow (2.20, Keras 3), then loaded in a separate environment with tensorflow-cpu 2.15.1 from PyPI,
whose serving_default must give the digits and probabilities Keras gave.

Run by .ci/run after the suite (`pytest -m serving_image`): installing TensorFlow 2.15 takes minutes.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_TEST_IMAGES, run_in_process

from trainer import data
from trainer.submit.prebuilt import SERVING_TENSORFLOW

pytestmark = pytest.mark.serving_image
SERVING_PIN = f"tensorflow-cpu=={SERVING_TENSORFLOW}.1"  # the 2.15 release the prebuilt images carry
EXPORTS = [(stage, "float32") for stage in ("softmax", "dense", "dropout", "conv", "batchnorm", "fast", "best")]
EXPORTS += [(stage, precision) for stage in ("batchnorm", "best") for precision in ("mixed_float16", "mixed_bfloat16")]
DIGITS = 64
SMALL = ["--train-size", "256", "--test-size", "100"]  # trained weights and batch-norm statistics, in seconds
# Float16 and bfloat16 arithmetic is emulated on a CPU without it (AVX2), where `best` trained at 90 ms an image in
# float16: the mixed precisions train on fewer images.
SMALL_MIXED = ["--train-size", "64", "--test-size", "32", "--batch-size", "32"]
SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
assert tf.__version__.startswith(sys.argv[2]), tf.__version__
for folder in json.loads(sys.argv[1]):
    expected = np.load(f"{folder}/keras.npz")
    out = tf.saved_model.load(f"{folder}/model").signatures["serving_default"](image=tf.constant(expected["images"]))
    np.savez(f"{folder}/tf215.npz", digit=out["digit"].numpy(), probabilities=out["probabilities"].numpy())
print("served", tf.__version__)
"""


@pytest.fixture(scope="module")
def tf215(tmp_path_factory) -> Path:
    """A virtual environment with nothing but TensorFlow 2.15 (and what it needs) from PyPI."""
    folder = tmp_path_factory.mktemp("tf215")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", SERVING_PIN], check=True, timeout=1200)
    return python


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each (stage, precision) trained on the shipped sample, exported, and Keras's own predictions for the
    first real test digits saved beside it (keras.npz)."""
    import keras

    import trainer.models  # noqa: F401 (registers the trainer's own BatchNormalization for load_model)

    images = data.read_images(SAMPLE_TEST_IMAGES)[:DIGITS].astype(np.float32) / 255.0
    folders = {}
    for stage, precision in EXPORTS:  # in this process: the export is the subject, not the trainer's process
        folder = tmp_path_factory.mktemp(f"{stage}-{precision}")
        small = SMALL if precision == "float32" else SMALL_MIXED
        run = run_in_process("--stage", stage, "--precision", precision, "--smoke", "--no-plots", *small,
                             "--job-dir", str(folder / "job"), "--model-dir", str(folder / "model"))  # fmt: skip
        assert run.returncode == 0, run.stderr
        model = keras.saving.load_model(folder / "model" / "model.keras")
        probabilities = np.asarray(model.predict(images, verbose=0), np.float32)
        np.savez(folder / "keras.npz", images=images, probabilities=probabilities)
        folders[stage, precision] = folder
    return folders


def test_every_export_serves_the_same_digits_and_probabilities_in_tensorflow_2_15(tf215, exports):
    run = subprocess.run(
        [tf215, "-c", SERVE, json.dumps([str(f) for f in exports.values()]), SERVING_TENSORFLOW],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"served {SERVING_TENSORFLOW}" in run.stdout
    for (stage, precision), folder in exports.items():
        keras_out, served = np.load(folder / "keras.npz"), np.load(folder / "tf215.npz")
        tolerance = 1e-5 if precision == "float32" else 1e-2  # float16 / bfloat16 arithmetic may round differently
        np.testing.assert_allclose(
            served["probabilities"], keras_out["probabilities"], atol=tolerance, err_msg=f"{stage} {precision}"
        )
        # The digit is the most probable class: the same wherever the top two are further apart than the
        # largest difference seen (a near tie may go either way); that must be nearly every digit.
        top = np.sort(keras_out["probabilities"], axis=1)
        clear = top[:, -1] - top[:, -2] > 2 * np.abs(served["probabilities"] - keras_out["probabilities"]).max()
        assert (served["digit"] == keras_out["probabilities"].argmax(1))[clear].all(), f"{stage} {precision}"
        assert clear.mean() > 0.9, f"{stage} {precision}: {clear.mean():.0%} of the digits clear of a tie"


def test_the_pin_is_the_tensorflow_of_the_prebuilt_image_deploy_still_accepts():
    from google.cloud import aiplatform

    uri = aiplatform.helpers.get_prebuilt_prediction_container_uri("tensorflow", SERVING_TENSORFLOW, None, "cpu")
    assert uri.endswith(f"tf2-cpu.{SERVING_TENSORFLOW.replace('.', '-')}:latest")
    with pytest.raises(ValueError):  # 2.15 is the newest prebuilt TensorFlow prediction image there is
        aiplatform.helpers.get_prebuilt_prediction_container_uri("tensorflow", "2.16", None, "cpu")
