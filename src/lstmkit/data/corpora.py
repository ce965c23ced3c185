"""The texts a language model trains on by name, or any UTF-8 file the user names.

    default      Jane Austen's Lady Susan (public domain, 125 kB), embedded in the package
                 (built by scripts/build_embedded_text.py from the music21 wheel), so the
                 text task runs offline on a fresh machine
    shakespeare  Tiny Shakespeare (char-rnn's input.txt, 1.1 MB), downloaded
    timemachine  H. G. Wells's The Time Machine as Dive into Deep Learning uses it, downloaded

load_corpus() reads a path when given; else the named corpus: the embedded file, or the
cache with a download from the canonical URL when missing (sha256 checked; 5 s connect
timeout; LSTMKIT_OFFLINE=1 forbids it). Neither downloaded text is embedded.
"""

import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

from lstmkit.data.download import DataUnavailable, cache_dir, fetch
from lstmkit.data.text import read_text

EMBEDDED_FILE = Path(__file__).parent / "embedded" / "lady-susan.txt.gz"
EMBEDDED_SHA256 = "5b3f1a6f64748264177b4c5bdfec7da08b6a69d680a5fda20279bac32ea8ea8c"


class Corpus(NamedTuple):
    """Where a downloaded corpus comes from: its file name, sha256 and URLs (tried in order)."""

    title: str
    filename: str
    sha256: str
    urls: tuple


CORPORA = {
    "shakespeare": Corpus(
        "Tiny Shakespeare", "input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
         "input.txt",)),
    "timemachine": Corpus(
        "The Time Machine", "timemachine.txt",
        "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516",
        ("http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",)),
}
NAMES = ("default", *CORPORA)


def load_corpus(name="default", path=None, *, progress=True):
    """(text, source) of the file at path, else of the corpus called name (see the module)."""
    if path is not None:
        return read_text(path), str(path)
    if name == "default":
        return _embedded(), "embedded Lady Susan (Jane Austen)"
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of: {', '.join(NAMES)}, or give "
                         "a UTF-8 file with --text FILE")
    corpus = CORPORA[name]
    try:
        file = fetch(corpus.filename, corpus.urls, sha256=corpus.sha256,
                     dest_dir=cache_dir() / name, progress=progress)
    except DataUnavailable as error:
        raise DataUnavailable(f"{corpus.title} is not available ({error}); download "
                              f"{corpus.urls[0]} and pass --text FILE") from None
    return read_text(file), f"cache {file}"


def _embedded():
    """The embedded default text, checked against its sha256."""
    data = gzip.decompress(EMBEDDED_FILE.read_bytes())
    if (actual := hashlib.sha256(data).hexdigest()) != EMBEDDED_SHA256:
        raise ValueError(f"{EMBEDDED_FILE} is damaged (sha256 {actual}, expected "
                         f"{EMBEDDED_SHA256}); reinstall lstmkit")
    return data.decode("utf-8")
