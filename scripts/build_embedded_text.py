"""Build the default text embedded in the package: Jane Austen's Lady Susan from music21.

Reads music21/languageExcerpts/trainingData/en.txt out of a music21 wheel, strips the
Project Gutenberg header line and footer line (and the blank lines around them), and
writes into src/lstmkit/data/embedded/:
    lady-susan.txt.gz   the novel's text, UTF-8, gzip level 9 with mtime 0 (same input, same bytes)
    DATA_LICENSES       the Lady Susan section (other sections are kept)

    pip download music21 --no-deps -d /tmp/m21
    PYTHONPATH=src python scripts/build_embedded_text.py /tmp/m21/music21-*.whl

It prints the sha256 of the text, which data/corpora.py checks on every load.
"""

import gzip
import hashlib
import sys
import zipfile
from pathlib import Path

from build_embedded_mnist import write_license_section

from lstmkit.data.corpora import EMBEDDED_FILE

MEMBER = "music21/languageExcerpts/trainingData/en.txt"
HEADER = "***The Project Gutenberg Etext of Lady Susan, by Jane Austen***"
FOOTER = "End of The Project Gutenberg Etext of Lady Susan, by Jane Austen"
LICENSE_SECTION = """\
## Lady Susan (the default text): lady-susan.txt.gz

What:    Jane Austen's epistolary novel Lady Susan (written about 1794, published 1871), the
         Project Gutenberg etext without its header and footer lines, UTF-8, gzip -9
         (mtime 0); sha256 of the decompressed text
         {sha256}.
         Built by scripts/build_embedded_text.py.
Authors: Jane Austen; etext by Project Gutenberg.
License: Public domain (the author died in 1817); the Project Gutenberg header and footer,
         the only parts under their license, are removed. The music21 package it comes from
         is BSD-3-Clause.
Origin:  music21/languageExcerpts/trainingData/en.txt of the PyPI wheel
         {wheel} (wheel sha256
         {wheel_sha256}; file sha256
         {file_sha256}).
"""


def strip_gutenberg(text):
    """The text between the header line and the footer line, without surrounding blank lines."""
    lines = text.strip().splitlines()
    if lines[0].strip() != HEADER or lines[-1].strip() != FOOTER:
        raise ValueError(f"{MEMBER} does not start with {HEADER!r} and end with {FOOTER!r}")
    return "\n".join(lines[1:-1]).strip("\n") + "\n"


def build(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER)
    text = strip_gutenberg(raw.decode("utf-8"))
    data = text.encode("utf-8")
    EMBEDDED_FILE.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    sha256 = hashlib.sha256(data).hexdigest()
    section = LICENSE_SECTION.format(sha256=sha256, wheel=wheel.name,
                                     wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                                     file_sha256=hashlib.sha256(raw).hexdigest())
    write_license_section(EMBEDDED_FILE.parent / "DATA_LICENSES", section)
    return sha256


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"{EMBEDDED_FILE}: text sha256 {build(Path(sys.argv[1]))}")
