"""Predict digits with an exported model: `python -m trainer.predict --model-dir DIR FILE...`.

Inputs: PNG images of one digit, IDX image files (raw or .gz, every image in them), or JSON-lines
files of Vertex AI prediction instances, {"image": [[...28 rows of 28 floats in 0..1...]]}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from trainer import data


def read_png(path: Path) -> np.ndarray:
    """A digit picture as MNIST sees it: 28x28 grey, light digit on a dark background, in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L").resize((28, 28)), np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise data.DataError(f"{path}: not a readable PNG image ({e})") from None
    if pixels.mean() > 0.5:  # dark ink on white paper: invert to MNIST's convention
        pixels = 1.0 - pixels
    return pixels[None]


def read_jsonl(path: Path) -> np.ndarray:
    images = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            image = np.asarray(json.loads(line)["image"], np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise data.DataError(
                f"{path}:{number}: not a JSON object with an 'image' ({type(e).__name__}: {e})"
            ) from None
        if image.shape != (28, 28):
            raise data.DataError(f"{path}:{number}: image has shape {list(image.shape)}, expected [28, 28]")
        images.append(image)
    if not images:
        raise data.DataError(f"{path}: no instances")
    return np.stack(images)


def read_inputs(path: Path) -> np.ndarray:
    """Images [n, 28, 28] float32 in [0, 1] from one input file, by its kind."""
    if not path.is_file():
        raise data.DataError(f"{path}: no such file")
    if path.suffix.lower() == ".png":
        return read_png(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_jsonl(path)
    if "idx3-ubyte" in path.name:
        return data.read_images(path).astype(np.float32) / 255.0
    raise data.DataError(
        f"{path}: unknown kind of input; expected .png, .jsonl or an IDX image file (*idx3-ubyte[.gz])"
    )


def print_predictions(path: Path, digits, probabilities) -> None:
    """One line per image: `FILE: DIGIT (PROBABILITY)`, `FILE[i]: ...` when the file holds several."""
    for i, digit in enumerate(digits):
        where = str(path) if len(digits) == 1 else f"{path}[{i}]"
        print(f"{where}: {digit} ({probabilities[i][digit]:.1%})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer.predict", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True, help="the exported SavedModel (a job's model dir)")
    p.add_argument("files", nargs="+", type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        inputs = [(path, read_inputs(path)) for path in args.files]
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import tensorflow as tf

    try:
        serve = tf.saved_model.load(args.model_dir).signatures["serving_default"]
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {args.model_dir}: not an exported model ({type(e).__name__})", file=sys.stderr)
        return 2
    for path, images in inputs:
        out = serve(image=tf.constant(images))
        print_predictions(path, out["digit"].numpy(), out["probabilities"].numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
