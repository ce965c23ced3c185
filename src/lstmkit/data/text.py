"""Text for character-level language models: reading, the vocabulary, streams of ids.

    read_text(path)           any UTF-8 file as a str, or a one-line error saying what is wrong
    letters_only(text)        Dive into Deep Learning's preprocessing: lower-case letters, space
    Vocabulary                characters <-> ids; id 0 is the unknown symbol
    split_text(text, f)       (first 1 - f, last f) of the text, by position
    Stream / make_stream      contiguous batching for truncated BPTT with the state carried

A stream reads a text of n ids as n - 1 (input, target) pairs, x_t = ids[t] and
y_t = ids[t + 1], cut into B contiguous rows of near-equal length (the first rows one longer
when B does not divide n - 1). Chunk k holds columns [k * steps, (k + 1) * steps) of every
row; a model reads the chunks in order, each starting from the state the previous one ended
in, so row b is one long sequence whose gradient is cut every `steps` steps (truncated
BPTT). Every character but the first is a target exactly once; the rows' lengths mark the
padding of the last chunk.
"""

import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

UNKNOWN = "\N{REPLACEMENT CHARACTER}"  # the unknown symbol: a character the vocabulary lacks


def read_text(path, min_chars=2):
    """The text of a UTF-8 file (a BOM is dropped, line ends kept), at least min_chars long."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give the path of a UTF-8 text file")
    data = path.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{path} looks binary (it holds NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 (byte {error.start} cannot be decoded); convert "
                         "it first, for example: iconv -f latin1 -t utf-8") from None
    return check_length(text, min_chars, str(path))


def check_length(text, min_chars, name="the text", hint="give a longer text"):
    """text, unless it is empty or shorter than min_chars characters (then a clear error
    ending with hint)."""
    if not text:
        raise ValueError(f"{name} is empty; give a text to learn from")
    if len(text) < min_chars:
        raise ValueError(f"{name} has {len(text)} characters, too short: it needs at least "
                         f"{min_chars}; {hint}")
    return text


def letters_only(text):
    """Lower-case letters and single spaces: every run of other characters becomes a space
    (d2l.TimeMachine's preprocessing, re.sub('[^A-Za-z]+', ' ', text).lower())."""
    return re.sub("[^A-Za-z]+", " ", text).lower()


class Vocabulary:
    """The characters of a text, sorted, after the unknown symbol: id 0 is UNKNOWN."""

    def __init__(self, chars):
        chars = sorted(set(chars) - {UNKNOWN})
        self.chars = [UNKNOWN, *chars]
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_list(cls, chars):
        """The vocabulary saved as `chars` (the list in id order, as stored in config.json)."""
        if not chars or chars[0] != UNKNOWN:
            raise ValueError("a saved vocabulary starts with the unknown symbol; this one "
                             "does not: the run directory is damaged")
        return cls(chars)

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """int64 ids (len(text),); characters outside the vocabulary get id 0."""
        return np.fromiter((self._ids.get(c, 0) for c in text), np.int64, count=len(text))

    def decode(self, ids):
        """The text of ids (id 0 reads as UNKNOWN)."""
        return "".join(self.chars[i] for i in np.asarray(ids).reshape(-1))


def split_text(text, validation_fraction):
    """(train, validation): the first 1 - fraction and the last fraction of text, by position
    (validation "" when the fraction is 0)."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}")
    cut = len(text) - round(validation_fraction * len(text))
    return text[:cut], text[cut:]


class Stream(NamedTuple):
    """B contiguous rows of (input, target) ids, read in chunks of `steps` columns."""

    X: np.ndarray  # (B, L) input ids, 0 after a row's end
    y: np.ndarray  # (B, L) target ids: each row's inputs shifted by one
    lengths: np.ndarray  # (B,) the valid columns of each row
    steps: int  # columns per chunk: the truncated BPTT length

    @property
    def n_chunks(self):
        return math.ceil(self.X.shape[1] / self.steps)

    @property
    def n_targets(self):
        return int(self.lengths.sum())

    def chunk(self, k):
        """(X (B, S), y (B, S), lengths (B,)) of chunk k, S <= steps; lengths count its valid
        columns (0 for a row that ended before it)."""
        columns = slice(k * self.steps, (k + 1) * self.steps)
        lengths = np.clip(self.lengths - k * self.steps, 0, self.steps)
        return self.X[:, columns], self.y[:, columns], lengths


def make_stream(ids, rows, steps):
    """The Stream of ids (n,) in `rows` contiguous rows; chunks of `steps` columns."""
    ids = np.asarray(ids)
    if rows < 1 or steps < 1:
        raise ValueError(f"a stream needs rows >= 1 and steps >= 1, got {rows} and {steps}")
    if len(ids) < rows + 1:
        raise ValueError(f"a text of {len(ids)} characters is too short for {rows} rows: each "
                         "row needs an input and a target; lower the batch size or give more text")
    pieces = np.array_split(np.arange(len(ids) - 1), rows)  # positions of the inputs
    lengths = np.array([len(p) for p in pieces])
    X = np.zeros((rows, lengths.max()), ids.dtype)
    y = np.zeros_like(X)
    for b, positions in enumerate(pieces):
        X[b, :len(positions)] = ids[positions]
        y[b, :len(positions)] = ids[positions + 1]
    return Stream(X, y, lengths, steps)
