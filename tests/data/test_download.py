import hashlib
import os

import platformdirs
import pytest

from lstmkit.data import download
from lstmkit.data.download import DataUnavailable, cache_dir, fetch

BODY = os.urandom(300_000)  # several read chunks
SHA = hashlib.sha256(BODY).hexdigest()


def test_cache_dir_from_env_or_platformdirs(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_DATA_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("LSTMKIT_DATA_DIR")
    assert cache_dir() == type(tmp_path)(platformdirs.user_cache_dir("lstmkit"))


def test_downloads_into_the_cache(server, isolated_cache):
    path = fetch("a.bin", [server.serve("/a.bin", BODY)], sha256=SHA, progress=False)
    assert path == isolated_cache / "a.bin"
    assert path.read_bytes() == BODY
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["a.bin"]  # no temp file left


def test_cached_file_is_reused(server, tmp_path):
    url = server.serve("/a.bin", BODY)
    first = fetch("a.bin", [url], sha256=SHA, dest_dir=tmp_path, progress=False)
    second = fetch("a.bin", [url], sha256=SHA, dest_dir=tmp_path, progress=False)
    assert first == second and server.hits == ["/a.bin"]


def test_damaged_cached_file_is_downloaded_again(server, tmp_path):
    (tmp_path / "a.bin").write_bytes(BODY[:100])
    path = fetch(
        "a.bin", [server.serve("/a.bin", BODY)], sha256=SHA, dest_dir=tmp_path, progress=False
    )
    assert path.read_bytes() == BODY and server.hits == ["/a.bin"]


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    url = server.serve("/a.bin", BODY[:-1] + b"!")
    with pytest.raises(DataUnavailable, match=rf"could not download a\.bin: {url} \(sha256 is"):
        fetch("a.bin", [url], sha256=SHA, dest_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_verify_callable_rejects_and_the_next_mirror_is_used(server, tmp_path):
    def verify(path):
        if path.read_bytes()[:4] != BODY[:4]:
            raise ValueError("wrong header")

    bad = server.serve("/bad.bin", b"nope" + BODY[4:])
    good = server.serve("/good.bin", BODY)
    path = fetch("a.bin", [bad, good], verify=verify, dest_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY and server.hits == ["/bad.bin", "/good.bin"]


def test_cut_off_body_leaves_no_partial_file(server, tmp_path):
    url = server.cut("/a.bin", BODY[:100_000], length=len(BODY))
    with pytest.raises(DataUnavailable, match=r"connection closed after 100000 of 300000 bytes"):
        fetch("a.bin", [url], dest_dir=tmp_path, progress=False)  # no checksum: length alone
    assert list(tmp_path.iterdir()) == []


def test_server_down_falls_through_to_the_next_mirror(server, closed_port_url, tmp_path):
    urls = [closed_port_url, server.serve("/a.bin", BODY)]
    path = fetch("a.bin", urls, sha256=SHA, dest_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY


def test_http_error_and_cut_off_fall_through(server, tmp_path):
    urls = [
        server.fail("/missing.bin", 404),
        server.cut("/cut.bin", BODY[:10], length=len(BODY)),
        server.serve("/a.bin", BODY),
    ]
    path = fetch("a.bin", urls, sha256=SHA, dest_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert server.hits == ["/missing.bin", "/cut.bin", "/a.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_silent_server_times_out(server, monkeypatch, tmp_path):
    monkeypatch.setattr(download, "TIMEOUT_S", 0.2)
    urls = [server.stall("/slow.bin", BODY, seconds=1.0), server.serve("/a.bin", BODY)]
    path = fetch("a.bin", urls, sha256=SHA, dest_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY


def test_all_mirrors_failing_lists_each_url_and_why(server, closed_port_url, tmp_path):
    urls = [closed_port_url, server.fail("/gone.bin", 500), server.serve("/wrong.bin", b"x")]
    with pytest.raises(DataUnavailable) as info:
        fetch("a.bin", urls, sha256=SHA, dest_dir=tmp_path, progress=False)
    message = str(info.value)
    assert message.startswith("could not download a.bin: ") and "\n" not in message
    assert f"{urls[0]} (<urlopen error" in message
    assert f"{urls[1]} (HTTP Error 500" in message
    assert f"{urls[2]} (sha256 is {hashlib.sha256(b'x').hexdigest()}" in message
    assert message.endswith(f"check the network or copy the file into {tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_no_urls_is_unavailable(tmp_path):
    with pytest.raises(DataUnavailable, match=r"a\.bin: no download URL given"):
        fetch("a.bin", [], dest_dir=tmp_path)


def test_offline_raises_without_touching_the_network(server, monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    url = server.serve("/a.bin", BODY)
    with pytest.raises(DataUnavailable, match=r"no valid a\.bin in .* LSTMKIT_OFFLINE=1 forbids"):
        fetch("a.bin", [url], sha256=SHA, dest_dir=tmp_path)
    assert server.hits == [] and list(tmp_path.iterdir()) == []


def test_offline_still_uses_a_valid_cached_file(server, monkeypatch, tmp_path):
    (tmp_path / "a.bin").write_bytes(BODY)
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    path = fetch("a.bin", [server.url("/a.bin")], sha256=SHA, dest_dir=tmp_path)
    assert path == tmp_path / "a.bin"
    assert server.hits == []


def test_file_url(tmp_path):
    source = tmp_path / "source" / "a.bin"
    source.parent.mkdir()
    source.write_bytes(BODY)
    path = fetch(
        "a.bin", [source.as_uri()], sha256=SHA, dest_dir=tmp_path / "cache", progress=False
    )
    assert path.read_bytes() == BODY


def test_progress_bar_does_not_break_the_download(server, tmp_path):
    path = fetch("a.bin", [server.serve("/a.bin", BODY)], sha256=SHA, dest_dir=tmp_path)
    assert path.read_bytes() == BODY
