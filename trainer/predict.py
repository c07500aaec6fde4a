"""Predict digits with an exported model: `python -m trainer.predict --model-dir DIR FILE...`.

Inputs: PNG images of one digit (at most MAX_PIXELS), IDX image files (raw or .gz, every image in them), or
JSON-lines files of Vertex AI prediction instances, {"image": [[...28 rows of 28 floats in 0..1...]]} or
{"image": {"b64": ...}}, each read by the serving contract's one reader (trainer/serving_contract.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from trainer import data, process, serving_contract
from trainer.values import OneLineParser, gs_problem, shown

MAX_PIXELS = 40_000_000  # a 12-megapixel phone photo fits thrice; Pillow's own bomb check is at 89 million


def read_png(path: Path) -> np.ndarray:
    """A digit picture as MNIST sees it: 28x28 grey, light digit on a dark background, in [0, 1]. The size is
    read from the header first: a picture over MAX_PIXELS is refused before it is decoded."""
    from PIL import Image

    too_large = f"more than {MAX_PIXELS:,} pixels; scale it down first"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise data.DataError(f"{path}: {width}x{height}, {too_large}")
                pixels = np.asarray(image.convert("L").resize((28, 28)), np.float32) / 255.0
    except data.DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own check, at 89 million
        raise data.DataError(f"{path}: {too_large}") from None
    except Exception as e:  # noqa: BLE001 - Pillow's decoders raise many kinds on hostile bytes; each is one line
        raise data.DataError(f"{path}: not a readable PNG image ({type(e).__name__}: {e})") from None
    if pixels.mean() > 0.5:  # dark ink on white paper: invert to MNIST's convention
        pixels = 1.0 - pixels
    return pixels[None]


def read_jsonl(path: Path) -> np.ndarray:
    """Vertex AI instances, one JSON object a line, each read by the serving contract's one reader."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as e:
        raise data.DataError(f"{path}: cannot read ({e.strerror})") from None
    images = [
        serving_contract.image(serving_contract.decode_json(line, f"{path}:{number}"), f"{path}:{number}")
        for number, line in enumerate(lines, 1)
        if line.strip()
    ]
    if not images:
        raise data.DataError(f"{path}: no instances")
    return np.stack(images)


def read_inputs(path: Path) -> np.ndarray:
    """Images [n, 28, 28] float32 in [0, 1] from one input file, by its kind."""
    if not os.path.isfile(path):  # os.path, not pathlib: False, not OSError, for a name too long
        why = (
            "a folder; pass the files in it"
            if os.path.isdir(path)
            else "not a regular file"
            if os.path.exists(path)
            else "no such file"
        )
        raise data.DataError(f"{path}: {why}")
    if path.suffix.lower() == ".png":
        return read_png(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_jsonl(path)
    if "idx3-ubyte" in path.name:
        images = data.read_images(path)
        if not len(images):
            raise data.DataError(f"{path}: the file holds no images")
        return images.astype(np.float32) / 255.0
    raise data.DataError(
        f"{path}: unknown kind of input; expected .png, .jsonl or an IDX image file (*idx3-ubyte[.gz])"
    )


def print_predictions(path: Path, digits, probabilities) -> None:
    """One line per image: `FILE: DIGIT (PROBABILITY)`, `FILE[i]: ...` when the file holds several."""
    for i, digit in enumerate(digits):
        where = str(path) if len(digits) == 1 else f"{path}[{i}]"
        print(f"{where}: {digit} ({probabilities[i][digit]:.1%})")


def check_model_dir(model_dir: str) -> None:
    """One line (DataError) for a --model-dir that cannot be an export, before TensorFlow loads: empty, a bucket no
    name could be, a folder not here, or a job's folder, whose export is in model/ (the mistake most made)."""
    if not model_dir.strip():
        raise data.DataError(f"--model-dir {shown(model_dir)}: empty; pass the exported model's folder (JOB_DIR/model)")
    if model_dir.startswith("gs://"):
        if why := gs_problem(model_dir):
            raise data.DataError(f"--model-dir {shown(model_dir)}: {why}")
        return
    folder = Path(model_dir)
    if not os.path.isdir(folder):
        raise data.DataError(f"--model-dir {shown(model_dir)}: no such folder")
    if not serving_contract.has_saved_model(folder):
        raise data.DataError(f"--model-dir {shown(model_dir)}: {serving_contract.not_an_export(folder)}")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m trainer.predict", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True, help="the exported SavedModel (a job's model dir)")
    p.add_argument("files", nargs="+", type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        inputs = [(path, read_inputs(path)) for path in args.files]
        check_model_dir(args.model_dir)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        serve = serving_contract.serving_signature(tf.saved_model.load(args.model_dir), args.model_dir)
    except (OSError, ValueError, DecodeError, tf.errors.OpError) as e:
        print(f"error: {shown(args.model_dir)}: not an exported model ({type(e).__name__})", file=sys.stderr)
        return 2
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, images in inputs:
        out = serve(image=tf.constant(images))
        print_predictions(path, out["digit"].numpy(), out["probabilities"].numpy())
    return 0


if __name__ == "__main__":
    process.end(main())
