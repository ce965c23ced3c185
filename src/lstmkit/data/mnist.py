"""MNIST handwritten digits: 60,000 train and 10,000 test images, 28 x 28 uint8, labels 0-9.

load_mnist() looks in this order:
  1. data_dir, when given: the four IDX files (gz or raw) in that folder;
  2. the cache (cache_dir() / "mnist"), downloading what is missing from the mirrors;
  3. when the full set is unavailable (offline, or every mirror failed): the embedded
     subset shipped in the package (train[:10000], test[:2000]), with a one-line notice.
Full files are always checked against the canonical sha256 of their decompressed bytes, so
the official .gz files and any recompressed copy are both accepted.
"""

import hashlib
import json
import sys
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lstmkit.data.download import DataUnavailable, cache_dir, fetch
from lstmkit.data.idx import decode_idx, read_raw

MIRRORS = (  # base URLs holding <name>.gz, tried in order
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {  # field: (file name without .gz, sha256 of the decompressed canonical file)
    "train_images": (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train_labels": (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "test_images": (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "test_labels": (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
EMBEDDED_DIR = Path(__file__).parent / "embedded"
EMBEDDED_RECORD = EMBEDDED_DIR / "mnist.json"  # written by scripts/build_embedded_mnist.py


class MNIST(NamedTuple):
    train_images: np.ndarray  # (60000, 28, 28) uint8, 0 = background
    train_labels: np.ndarray  # (60000,) uint8, digits 0-9
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    source: str  # where it came from: a folder, the cache, or "embedded subset"


def load_mnist(
    data_dir: str | Path | None = None, *, download: bool = True, progress: bool = True
) -> MNIST:
    """MNIST from data_dir, else the cache / mirrors, else the embedded subset (see module).

    download=False never touches the network; progress=False hides the download bar.
    A missing or wrong file in data_dir is an error, never a silent fallback.
    """
    if data_dir is not None:
        return _load_dir(Path(data_dir))
    try:
        return _load_cache(download, progress)
    except DataUnavailable as err:
        print(
            f"lstmkit: full MNIST not available, using the embedded subset (train[:10000], "
            f"test[:2000]); for the full set run once online with LSTMKIT_OFFLINE unset, or "
            f"pass data_dir= a folder with the four IDX files. Cause: {err}",
            file=sys.stderr,
        )
        return _load_embedded()


def _load_dir(folder: Path) -> MNIST:
    """The four files from folder, each name with or without .gz; all are found first."""
    paths = {}
    for field, (name, _) in FILES.items():
        candidates = [folder / f"{name}.gz", folder / name]
        paths[field] = next((p for p in candidates if p.is_file()), None)
        if paths[field] is None:
            raise FileNotFoundError(
                f"{folder} has no {name}(.gz); put the four MNIST IDX files there "
                "or leave out the data directory (--data-dir, data_dir=) to use the cache or "
                "download them"
            )
    arrays = {field: _read_checked(paths[field], FILES[field][1]) for field in FILES}
    return MNIST(**arrays, source=str(folder))


def _load_cache(download: bool, progress: bool) -> MNIST:
    """The four files from the cache, fetching the missing ones from MIRRORS."""
    folder = cache_dir() / "mnist"
    arrays = {}
    for field, (name, sha256) in FILES.items():
        urls = [mirror + f"{name}.gz" for mirror in MIRRORS] if download else []
        keep = partial(_read_into, arrays, field, sha256)
        fetch(f"{name}.gz", urls, verify=keep, dest_dir=folder, progress=progress)
    return MNIST(**arrays, source=f"cache {folder}")


def _read_into(arrays: dict, field: str, sha256: str, path: Path) -> None:
    """fetch's verify: check and decode path, keeping the array so the file is read once."""
    arrays[field] = _read_checked(path, sha256)


def _load_embedded() -> MNIST:
    """The subset shipped in embedded/, checked against the sha256s in mnist.json."""
    record = json.loads(EMBEDDED_RECORD.read_text())
    arrays = {
        field: _read_checked(EMBEDDED_DIR / entry["file"], entry["raw_sha256"])
        for field, entry in record["files"].items()
    }
    return MNIST(**arrays, source="embedded subset")


def _read_checked(path: Path, sha256: str) -> np.ndarray:
    """Decompress path, check the sha256 of the IDX bytes, and decode them."""
    data = read_raw(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ValueError(
            f"{path}: not the expected MNIST file (sha256 of its IDX bytes is {actual}, "
            f"expected {sha256}); replace it with the original"
        )
    return decode_idx(data, name=str(path))
