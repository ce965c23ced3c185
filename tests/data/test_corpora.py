"""data.corpora: the embedded default text, the two named corpora by their real download
(served from 127.0.0.1: checksum, cache, LSTMKIT_OFFLINE) and a file the user names."""

import gzip
import hashlib
from pathlib import Path

import pytest

from lstmkit.data import corpora
from lstmkit.data.corpora import load_corpus
from lstmkit.data.download import DataUnavailable

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FILES = {"shakespeare": SHARED / "tinyshakespeare" / "input.txt",
         "timemachine": SHARED / "timemachine" / "timemachine.txt"}


def serve_from(server, monkeypatch, name, body):
    corpus = corpora.CORPORA[name]
    url = server.serve(f"/{corpus.filename}", body)
    monkeypatch.setitem(corpora.CORPORA, name, corpus._replace(urls=(url,)))
    return url


def test_the_default_is_lady_susan_without_the_gutenberg_header(monkeypatch):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")  # embedded: no network needed
    text, source = load_corpus()
    assert source == "embedded Lady Susan (Jane Austen)"
    assert text.startswith("LADY SUSAN\n\nby\n\nJane Austen")
    assert text.endswith("a woman ten years older\nthan herself.\n")
    assert "Gutenberg" not in text and len(text) > 100_000
    assert hashlib.sha256(text.encode()).hexdigest() == corpora.EMBEDDED_SHA256


@pytest.mark.parametrize("name", ["shakespeare", "timemachine"])
def test_named_corpora_download_check_and_cache(server, monkeypatch, isolated_cache, name):
    body = FILES[name].read_bytes()
    serve_from(server, monkeypatch, name, body)
    text, source = load_corpus(name, progress=False)
    cached = isolated_cache / name / corpora.CORPORA[name].filename
    assert text == body.decode() and source == f"cache {cached}"
    assert cached.read_bytes() == body

    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")  # the second time from the cache alone
    assert load_corpus(name, progress=False)[0] == text
    assert len(server.hits) == 1


def test_a_wrong_download_is_refused_and_says_how_to_get_the_text(server, monkeypatch):
    body = FILES["timemachine"].read_bytes()
    url = serve_from(server, monkeypatch, "timemachine", body[:-1] + b"!")
    with pytest.raises(DataUnavailable, match=rf"The Time Machine is not available \(could not "
                       rf"download timemachine\.txt: {url} \(sha256 is") as info:
        load_corpus("timemachine", progress=False)
    assert str(info.value).endswith("and pass --text FILE")


def test_offline_without_a_cached_copy_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match=r"Tiny Shakespeare is not available \(no valid "
                       r"input\.txt in .* LSTMKIT_OFFLINE=1 forbids downloading"):
        load_corpus("shakespeare")


def test_a_file_the_user_names_wins(tmp_path):
    (tmp_path / "mine.txt").write_text("my own little text\n")
    assert load_corpus("shakespeare", tmp_path / "mine.txt") == (
        "my own little text\n", str(tmp_path / "mine.txt"))


def test_an_unknown_corpus_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown corpus 'poems'; choose one of: default, "
                       r"shakespeare, timemachine, or give a UTF-8 file with --text FILE"):
        load_corpus("poems")


def test_a_damaged_embedded_text_is_an_error(monkeypatch, tmp_path):
    damaged = tmp_path / "lady-susan.txt.gz"
    damaged.write_bytes(gzip.compress(b"LADY SUSAN, abridged"))
    monkeypatch.setattr(corpora, "EMBEDDED_FILE", damaged)
    with pytest.raises(ValueError, match=r"lady-susan\.txt\.gz is damaged \(sha256 .*\); "
                       "reinstall lstmkit"):
        load_corpus()
