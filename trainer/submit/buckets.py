"""The job's bucket and its MNIST files, through google-cloud-storage: whether the bucket exists, where, whether the
caller may write there, whether a folder holds the four files the trainer reads, and their server-side copy from
the public bucket (a rewrite: nothing passes through this machine)."""

from __future__ import annotations

from collections.abc import Iterator

from google.auth.credentials import Credentials
from google.cloud import storage

from trainer import data
from trainer.submit.errors import SubmitError
from trainer.submit.settings import Settings
from trainer.values import shown

WRITE = ["storage.objects.create", "storage.objects.get", "storage.objects.list"]  # what a job does in its bucket
PUBLIC_MNIST = data.DEFAULT_DATA_DIR  # gs://cvdf-datasets/mnist/, the files TensorFlow's own tutorials read


def client(s: Settings, credentials: Credentials) -> storage.Client:
    """Cloud Storage as the caller (STORAGE_EMULATOR_HOST, if set, is honoured by the library)."""
    return storage.Client(project=s.project, credentials=credentials)


def split(uri: str) -> tuple[str, str]:
    """gs://BUCKET/PREFIX -> (BUCKET, PREFIX without slashes at its ends)."""
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")


def missing_files(gcs: storage.Client, uri: str) -> list[str]:
    """The MNIST files (by their base names) the trainer would not find in gs://BUCKET/PREFIX, raw or .gz;
    an empty object counts as missing."""
    bucket, prefix = split(uri)
    below = f"{prefix}/" if prefix else ""
    names = {b.name.removeprefix(below) for b in gcs.list_blobs(bucket, prefix=below) if b.size}
    return [base for base in data.FILES.values() if data.pick(names, base) is None]


def mnist_copies(gcs: storage.Client, destination: str) -> Iterator[tuple[str, str]]:
    """Copy the four public MNIST files into gs://BUCKET/PREFIX/ server-side, yielding (object, what was done).
    A file already there with the same checksum is left; one with another checksum is refused (SubmitError)."""
    source_bucket, source_prefix = split(PUBLIC_MNIST)
    bucket, prefix = split(destination)
    for base in data.FILES.values():
        name = f"{base}.gz"
        source = gcs.bucket(source_bucket).get_blob(f"{source_prefix}/{name}")
        if source is None:
            raise SubmitError(f"{PUBLIC_MNIST}{name}: not found in the public bucket; copy the files by hand")
        uri = f"gs://{bucket}/{prefix}/{name}"
        there = gcs.bucket(bucket).get_blob(f"{prefix}/{name}")
        if there is not None and there.crc32c == source.crc32c:
            yield uri, "already there"
            continue
        if there is not None:
            raise SubmitError(f"{shown(uri)}: exists with another checksum than {PUBLIC_MNIST}{name}; setup never overwrites: "
                              "move it aside, or pass another --bucket")  # fmt: skip
        target, token = gcs.bucket(bucket).blob(f"{prefix}/{name}"), None
        while True:  # a large object is rewritten in several calls
            token, _, _ = target.rewrite(source, token=token, if_generation_match=0)
            if token is None:
                break
        yield uri, "copied"
