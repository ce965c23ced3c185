import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstmkit.data import mnist
from lstmkit.data.idx import encode_idx, read_raw
from lstmkit.data.mnist import FILES, load_mnist

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def full():
    return load_mnist(SHARED_MNIST)


def assert_same_data(a, b):
    for field in FILES:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_data_dir_reads_the_full_set(full):
    assert full.train_images.shape == (60000, 28, 28) and full.train_images.dtype == np.uint8
    assert full.train_labels.shape == (60000,) and full.train_labels.dtype == np.uint8
    assert full.test_images.shape == (10000, 28, 28) and full.test_labels.shape == (10000,)
    assert np.bincount(full.test_labels).tolist() == TEST_COUNTS
    assert full.source == str(SHARED_MNIST)


def test_data_dir_accepts_raw_files(full, tmp_path):
    for name, _ in FILES.values():
        if "labels" in name:  # raw labels, gz images: both kinds in one folder
            (tmp_path / name).write_bytes(read_raw(SHARED_MNIST / f"{name}.gz"))
        else:
            shutil.copy(SHARED_MNIST / f"{name}.gz", tmp_path)
    assert_same_data(load_mnist(tmp_path), full)


def test_data_dir_missing_file(tmp_path):
    shutil.copy(SHARED_MNIST / "train-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"has no train-labels-idx1-ubyte\(\.gz\); put"):
        load_mnist(tmp_path)


def test_data_dir_wrong_content(tmp_path):
    for name, _ in FILES.values():
        (tmp_path / f"{name}.gz").symlink_to(SHARED_MNIST / f"{name}.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(encode_idx(np.zeros(10000, np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: not the expected MNIST file"):
        load_mnist(tmp_path)


def test_download_from_mirrors_checks_the_decompressed_content(
    full, server, closed_port_url, monkeypatch, isolated_cache, capsys
):
    # Mirror 1 is down, mirror 2 serves a different (but valid IDX) labels file, mirror 3 has
    # the recompressed copy (its .gz bytes differ from the official ones; its content does not).
    wrong_labels = gzip.compress(encode_idx(np.zeros(60000, np.uint8)))
    server.serve("/bad/train-labels-idx1-ubyte.gz", wrong_labels)
    for name, _ in FILES.values():
        server.serve(f"/good/{name}.gz", (SHARED_MNIST / f"{name}.gz").read_bytes())
    mirrors = (closed_port_url.rsplit("/", 1)[0] + "/", server.url("/bad/"), server.url("/good/"))
    monkeypatch.setattr(mnist, "MIRRORS", mirrors)

    data = load_mnist(progress=False)
    assert_same_data(data, full)
    assert data.source == f"cache {isolated_cache / 'mnist'}"
    assert "/bad/train-labels-idx1-ubyte.gz" in server.hits
    assert sorted(p.name for p in (isolated_cache / "mnist").iterdir()) == sorted(
        f"{name}.gz" for name, _ in FILES.values()
    )
    assert capsys.readouterr().err == ""

    server.hits.clear()
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")  # second call: all from the cache
    assert_same_data(load_mnist(progress=False), full)
    assert server.hits == []


def test_offline_falls_back_to_the_embedded_subset(monkeypatch, capsys):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    data = load_mnist()
    notice = capsys.readouterr().err
    assert notice.startswith("lstmkit: full MNIST not available, using the embedded subset")
    assert "LSTMKIT_OFFLINE=1" in notice and notice.count("\n") == 1
    assert data.source == "embedded subset"
    assert data.train_images.shape == (10000, 28, 28) and data.test_images.shape == (2000, 28, 28)


def test_failed_download_falls_back_to_the_embedded_subset(server, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "MIRRORS", (server.url("/nothing-here/"),))
    data = load_mnist(progress=False)
    assert data.source == "embedded subset"
    assert "HTTP Error 404" in capsys.readouterr().err


def test_download_false_never_touches_the_network(server, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "MIRRORS", (server.url("/"),))
    assert load_mnist(download=False).source == "embedded subset"
    assert server.hits == []
    assert "no download URL given" in capsys.readouterr().err


def test_embedded_subset_is_the_head_of_the_full_set(full, monkeypatch):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    subset = load_mnist()
    np.testing.assert_array_equal(subset.train_images, full.train_images[:10000])
    np.testing.assert_array_equal(subset.train_labels, full.train_labels[:10000])
    np.testing.assert_array_equal(subset.test_images, full.test_images[:2000])
    np.testing.assert_array_equal(subset.test_labels, full.test_labels[:2000])


def test_damaged_embedded_file_is_an_error(monkeypatch, tmp_path):
    shutil.copytree(mnist.EMBEDDED_DIR, tmp_path / "embedded")
    damaged = tmp_path / "embedded" / "mnist-t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(gzip.compress(encode_idx(np.zeros(2000, np.uint8))))
    monkeypatch.setattr(mnist, "EMBEDDED_DIR", tmp_path / "embedded")
    monkeypatch.setattr(mnist, "EMBEDDED_RECORD", tmp_path / "embedded" / "mnist.json")
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"mnist-t10k-labels-idx1-ubyte\.gz: not the expected"):
        load_mnist()
