"""data.text: reading any UTF-8 file or saying what is wrong with it, the vocabulary round
trip with its unknown symbol, the split by position, and the contiguous streams."""

import numpy as np
import pytest

from lstmkit.data.text import (
    UNKNOWN,
    Vocabulary,
    letters_only,
    make_stream,
    read_text,
    split_text,
)


def test_reads_utf8_text_and_drops_a_bom(tmp_path):
    text = "Ünïcödé, line one\r\nline two — ok\n"
    (tmp_path / "a.txt").write_bytes(text.encode("utf-8"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_text(tmp_path / "a.txt") == text
    assert read_text(tmp_path / "bom.txt") == text


@pytest.mark.parametrize(("content", "error", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ValueError,
     r"bad\.txt looks binary \(it holds NUL bytes\); give a UTF-8 text file"),
    ("caf\u00e9 cr\u00e8me".encode("latin-1"), ValueError,
     r"bad\.txt is not UTF-8 \(byte 3 cannot be decoded\); convert it first"),
    (b"", ValueError, r"bad\.txt is empty; give a text to learn from"),
    (b"a", ValueError, r"bad\.txt has 1 characters, too short: it needs at least 2"),
])
def test_bad_files_get_a_one_line_error_saying_what_to_do(tmp_path, content, error, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(error, match=message) as info:
        read_text(path)
    assert "\n" not in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.txt does not exist; give the path"):
        read_text(tmp_path / "nothing.txt")


def test_too_short_for_the_asked_length(tmp_path):
    (tmp_path / "short.txt").write_text("abcd")
    with pytest.raises(ValueError, match=r"has 4 characters, too short: it needs at least 10"):
        read_text(tmp_path / "short.txt", min_chars=10)


def test_vocabulary_round_trip_and_the_unknown_symbol():
    text = "To be, or not to be: that is the question.\n¿Qué?"
    vocabulary = Vocabulary(text)
    ids = vocabulary.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocabulary.decode(ids) == text
    assert len(vocabulary) == len(set(text)) + 1 and vocabulary.chars[0] == UNKNOWN
    assert 0 not in ids  # every character of the text is known
    unseen = vocabulary.encode("tox!")  # x and ! are not in the text
    assert unseen[2] == 0 and unseen[3] == 0 and vocabulary.decode(unseen) == f"to{UNKNOWN * 2}"
    again = Vocabulary.from_list(vocabulary.chars)  # as stored in a run's config.json
    assert again.chars == vocabulary.chars and np.array_equal(again.encode(text), ids)


def test_a_saved_vocabulary_must_start_with_the_unknown_symbol():
    with pytest.raises(ValueError, match="a saved vocabulary starts with the unknown symbol"):
        Vocabulary.from_list(["a", "b"])


def test_split_by_position():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, validation = split_text(text, 0.1)
    assert train == text[:900] and validation == text[900:]
    assert split_text(text, 0) == (text, "")
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \[0, 1\), got 1"):
        split_text(text, 1)


def test_letters_only_is_d2l_preprocessing():
    assert letters_only("The Time-Machine, 1895!\n\nBy H. G. Wells") == (
        "the time machine by h g wells")


@pytest.mark.parametrize(("n", "rows", "steps"), [(101, 4, 7), (50, 1, 100), (12, 11, 1)])
def test_a_stream_scores_every_character_but_the_first_exactly_once(n, rows, steps):
    ids = np.random.default_rng(0).integers(0, 9, n)
    stream = make_stream(ids, rows, steps)
    assert stream.X.shape[0] == rows and stream.n_targets == n - 1
    assert stream.lengths.max() - stream.lengths.min() <= 1  # near-equal rows
    inputs, targets = [], []
    for b in range(rows):  # rows are contiguous pieces, in order, targets shifted by one
        inputs.append(stream.X[b, :stream.lengths[b]])
        targets.append(stream.y[b, :stream.lengths[b]])
    assert np.array_equal(np.concatenate(inputs), ids[:-1])
    assert np.array_equal(np.concatenate(targets), ids[1:])
    chunks = [stream.chunk(k) for k in range(stream.n_chunks)]
    assert sum(int(lengths.sum()) for *_, lengths in chunks) == n - 1
    for k, (X, y, lengths) in enumerate(chunks):  # chunk k: columns k * steps ...
        columns = slice(k * steps, k * steps + X.shape[1])
        assert X.shape[1] <= steps and lengths.max() <= X.shape[1]
        assert np.array_equal(X, stream.X[:, columns]) and np.array_equal(y, stream.y[:, columns])


def test_a_stream_needs_a_target_per_row():
    with pytest.raises(ValueError, match=r"a text of 4 characters is too short for 4 rows"):
        make_stream(np.arange(4), 4, 2)
