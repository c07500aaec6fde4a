"""MNIST from Cloud Storage, a FUSE mount or a local folder, validated, as uint8 arrays in memory.

The four standard IDX files are read raw or gzipped. Every file is checked before its
pixels are trusted: a corrupted or hostile header must give a one-line error, never a
huge allocation or a traceback.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DATA_DIR = "gs://cvdf-datasets/mnist/"
SAMPLE_DIR = Path(__file__).parent / "sample"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnist-vertex-trainer"

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
ROWS = COLS = 28
CHUNK = 1 << 20
GCS_RETRY_SECONDS = 60.0  # how long transient Cloud Storage errors are retried before giving up

GCS_HINT = (
    "copy the four MNIST files to your own bucket "
    "(gcloud storage cp gs://cvdf-datasets/mnist/*.gz gs://YOUR_BUCKET/mnist/) "
    "and pass --data-dir gs://YOUR_BUCKET/mnist, or pass --data-dir a local folder"
)


class DataError(Exception):
    """A problem with the input data, reported to the user as one line."""


@dataclass
class Mnist:
    """Images as uint8 [n, 28, 28] and labels as uint8 [n], kept compact in memory."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


# ---------------------------------------------------------------- IDX parsing


def _read_payload(path: Path, header_size: int, payload_size: int) -> bytes:
    """Read the bytes after the header, checking the length the header promises.

    Raw files are checked by size before reading. Gzip files are streamed in chunks, so a
    header claiming 10^9 images allocates nothing and a bomb stops one chunk past the claim.
    """
    if path.suffix != ".gz":
        actual = path.stat().st_size - header_size
        if actual != payload_size:
            raise DataError(f"{path}: header says {payload_size} data bytes but the file has {actual}")
        with open(path, "rb") as f:
            f.seek(header_size)
            return f.read()
    chunks, total = [], 0
    try:
        with gzip.open(path, "rb") as f:
            f.read(header_size)
            while total <= payload_size and (chunk := f.read(CHUNK)):
                chunks.append(chunk)
                total += len(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a valid gzip file ({e})") from None
    if total > payload_size:
        raise DataError(f"{path}: gzip content is larger than the header says ({payload_size} data bytes)")
    if total < payload_size:
        raise DataError(f"{path}: header says {payload_size} data bytes but the content has {total} (truncated?)")
    return b"".join(chunks)


def _read_header(path: Path, size: int) -> bytes:
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            header = f.read(size)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(header) < size:
        raise DataError(f"{path}: too short for an IDX header ({len(header)} bytes)")
    return header


def read_images(path: Path) -> np.ndarray:
    """An IDX3 image file (magic 2051, n x 28 x 28 uint8) as a uint8 array [n, 28, 28]."""
    magic, count, rows, cols = struct.unpack(">IIII", _read_header(path, 16))
    if magic != IMAGES_MAGIC:
        raise DataError(f"{path}: magic number {magic}, expected {IMAGES_MAGIC} for an IDX image file")
    if (rows, cols) != (ROWS, COLS):
        raise DataError(f"{path}: images are {rows}x{cols}, expected {ROWS}x{COLS}")
    payload = _read_payload(path, 16, count * rows * cols)
    return np.frombuffer(payload, np.uint8).reshape(count, rows, cols)


def read_labels(path: Path) -> np.ndarray:
    """An IDX1 label file (magic 2049, n uint8 labels in 0..9) as a uint8 array [n]."""
    magic, count = struct.unpack(">II", _read_header(path, 8))
    if magic != LABELS_MAGIC:
        raise DataError(f"{path}: magic number {magic}, expected {LABELS_MAGIC} for an IDX label file")
    labels = np.frombuffer(_read_payload(path, 8, count), np.uint8)
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{path}: label {labels[bad]} at index {bad} is not a digit 0..9")
    return labels


# ---------------------------------------------------------------- locating the files


def pick(names: set[str] | list[str], base: str) -> str | None:
    """The raw file if it exists, else the gzipped one."""
    for candidate in (base, base + ".gz"):
        if candidate in names:
            return candidate
    return None


def _local_files(folder: Path) -> dict[str, Path]:
    if not os.path.isdir(folder):  # os.path, not pathlib: False, not OSError, for a name too long
        raise DataError(
            f"{folder}: no such folder; pass --data-dir a folder holding the four MNIST files, or gs://BUCKET/PREFIX"
        )
    present = {p.name for p in folder.iterdir()}
    files = {}
    for key, base in FILES.items():
        name = pick(present, base)
        if name is None:
            raise DataError(f"{folder / base}: missing (neither {base} nor {base}.gz exists)")
        files[key] = folder / name
    return files


def _storage_client():
    """An authenticated client, or an anonymous one for public buckets when no credentials exist."""
    import google.auth.exceptions
    from google.cloud import storage

    try:
        return storage.Client()
    except (google.auth.exceptions.DefaultCredentialsError, OSError):
        return storage.Client.create_anonymous_client()


def _gcs_files(uri: str, cache_dir: Path) -> dict[str, Path]:
    """Download the four files from gs://bucket/prefix into the cache, once per object generation."""
    import requests
    from google.api_core import exceptions as gexc
    from google.api_core.retry import Retry
    from google.cloud.storage.retry import DEFAULT_RETRY

    bucket_name, _, prefix = uri[len("gs://") :].partition("/")
    prefix = prefix.strip("/")
    if not bucket_name:
        raise DataError(f"{uri}: no bucket name; expected gs://BUCKET/PREFIX")
    retry: Retry = DEFAULT_RETRY.with_timeout(GCS_RETRY_SECONDS)
    no_bucket = f"gs://{bucket_name}: no such bucket; {GCS_HINT}"
    files = {}
    try:
        bucket = _storage_client().bucket(bucket_name)
        for key, base in FILES.items():
            blob = None
            for name in (base + ".gz", base):  # the published form first: one request per file as a rule
                blob = blob or bucket.get_blob(f"{prefix}/{name}".lstrip("/"), retry=retry)
            if blob is None:
                if not _bucket_exists(bucket):
                    raise DataError(no_bucket)
                raise DataError(f"gs://{bucket_name}/{prefix}/{base}: no such object (nor .gz); {GCS_HINT}")
            local = cache_dir / bucket_name / str(blob.generation) / blob.name
            if local.exists() and local.stat().st_size == blob.size:
                print(f"data: using cached {local}", flush=True)
            else:
                print(f"data: downloading gs://{bucket_name}/{blob.name} ({blob.size:,} bytes)", flush=True)
                _download(blob, local, retry)
            files[key] = local
    except gexc.NotFound:  # the bucket went missing between the lookups
        raise DataError(no_bucket) from None
    except gexc.Forbidden as e:
        raise DataError(f"{uri}: access denied ({e.message}); {GCS_HINT}") from None
    except (gexc.GoogleAPIError, requests.exceptions.RequestException, OSError) as e:
        raise DataError(f"{uri}: cannot reach Cloud Storage ({type(e).__name__}); {GCS_HINT}") from None
    return files


def _bucket_exists(bucket) -> bool:
    """Whether the bucket exists; readers of a public bucket may not ask, so assume it does."""
    from google.api_core import exceptions as gexc

    try:
        return bucket.exists()
    except gexc.Forbidden:
        return True


def _download(blob, local: Path, retry) -> None:
    """Download to a temporary file then rename, so an interrupted download is never cached."""
    local.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=local.parent, delete=False) as tmp:
        try:
            blob.download_to_file(tmp, retry=retry)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, local)


def is_downloaded(data_dir: str | os.PathLike) -> bool:
    """Whether data_dir's files are downloaded into the cache (gs://) rather than read in place (local, /gcs/)."""
    return str(data_dir).startswith("gs://")


def find_files(data_dir: str | os.PathLike, cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, Path]:
    """The four IDX files of data_dir as local paths (FILES' keys), gs:// objects downloaded into the cache."""
    data_dir = str(data_dir)
    return _gcs_files(data_dir, cache_dir) if is_downloaded(data_dir) else _local_files(Path(data_dir))


def load_mnist(data_dir: str | os.PathLike, cache_dir: Path = DEFAULT_CACHE_DIR) -> Mnist:
    """Read and validate MNIST from gs://bucket/prefix, /gcs/bucket/prefix or a local folder.

    Takes the folder holding the four IDX files (each raw or .gz) and, for gs://, the folder that
    caches downloads. Returns the Mnist arrays (uint8 images [n, 28, 28], uint8 labels [n]); raises
    DataError, one line naming the file and what is wrong, for a missing, corrupted or unreadable file.
    """
    files = find_files(data_dir, cache_dir)
    arrays = {}
    for key, path in files.items():
        arrays[key] = read_images(path) if key.endswith("images") else read_labels(path)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{files[f'{split}_images']}: {len(images)} images but "
                f"{files[f'{split}_labels']} has {len(labels)} labels"
            )
    return Mnist(**arrays)
