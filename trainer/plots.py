"""The two pictures a person looks at after training: the curves, and test digits with predictions."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a training VM
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def training_curves(records: list[dict], title: str) -> bytes:
    """Loss and accuracy per epoch, training and validation, and the learning rate beside them."""
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=False):
        ax.plot(epochs, [r[key] for r in records], "o-", label=f"training {key}")
        ax.plot(epochs, [r[f"val_{key}"] for r in records], "o-", label=f"validation {key}")
        ax.set_ylabel(key)
        ax.legend()
    axes[2].plot(epochs, [r["lr"] for r in records], "o--", color="grey")
    axes[2].set_ylabel("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def digit_grid(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, columns: int = 10) -> bytes:
    """Test digits with the predicted class under each, wrong ones in red, as the codelab shows them.
    The misrecognised digits come first: they are the interesting ones. One image of all the digits, drawn
    on one set of axes: a hundred subplots took matplotlib 1.3 s of CPU, longer than a smoke run trains."""
    order = np.argsort(predictions == labels, kind="stable")
    rows = max(1, -(-len(images) // columns))
    height, width = images.shape[1:3]
    cell_h, cell_w = height + height // 2, width + width // 7  # room for the caption below, a gap beside
    mosaic = np.zeros((rows * cell_h, columns * cell_w), dtype="float32")
    fig, ax = plt.subplots(figsize=(columns * 0.9, rows * 1.1))
    ax.axis("off")
    for n, i in enumerate(order):
        top, left = (n // columns) * cell_h, (n % columns) * cell_w
        mosaic[top : top + height, left : left + width] = images[i] / max(float(images[i].max()), 1e-9)
        wrong = predictions[i] != labels[i]
        ax.text(
            left + width / 2,
            top + height + 2,
            f"{predictions[i]}" + (f" ({labels[i]})" if wrong else ""),
            color="red" if wrong else "black",
            fontsize=9,
            ha="center",
            va="top",
        )
    ax.imshow(mosaic, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    return _png(fig)
