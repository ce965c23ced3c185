import gzip
from pathlib import Path

import numpy as np
import pytest

from lstmkit.data.idx import decode_idx, encode_idx, read_idx, read_raw

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"

# Digit counts 0-9 of the canonical MNIST labels.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_reads_real_mnist_labels_and_images():
    train_labels = read_idx(SHARED_MNIST / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")
    test_images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")
    assert train_labels.shape == (60000,) and train_labels.dtype == np.uint8
    assert np.bincount(train_labels).tolist() == TRAIN_COUNTS
    assert np.bincount(test_labels).tolist() == TEST_COUNTS
    assert test_images.shape == (10000, 28, 28) and test_images.dtype == np.uint8
    assert test_images.min() == 0 and test_images.max() == 255
    assert test_images[0, :4].sum() == 0  # MNIST digits are centred: the top rows are empty
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_raw_and_gz_read_the_same(tmp_path):
    gz = SHARED_MNIST / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "labels.idx"  # no telling extension: gzip is found by its magic bytes
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    np.testing.assert_array_equal(read_idx(raw), read_idx(gz))


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", "<i4", "float32", "float64"])
def test_encode_decode_round_trip_every_type(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    decoded = decode_idx(encode_idx(array))
    np.testing.assert_array_equal(decoded, array)
    assert decoded.dtype == array.dtype.newbyteorder("=") and decoded.flags.writeable


def test_header_is_big_endian_as_the_spec_says():
    data = encode_idx(np.array([[1, 2, 3]], dtype=np.int16))
    assert data == bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 1, 0, 2, 0, 3])


def test_wrong_magic():
    with pytest.raises(ValueError, match=r"f\.idx: not an IDX file \(magic 01000801"):
        decode_idx(b"\x01\x00\x08\x01" + bytes(8), name="f.idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        decode_idx(b"\x00\x00", name="f.idx")


def test_unknown_type_and_zero_dims():
    with pytest.raises(ValueError, match="unknown IDX data type 0x0a"):
        decode_idx(b"\x00\x00\x0a\x01" + bytes(8))
    with pytest.raises(ValueError, match="declares 0 dimensions"):
        decode_idx(b"\x00\x00\x08\x00")


def test_truncated_header_and_data():
    data = encode_idx(np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match=r"x: truncated IDX header \(10 of 12 bytes\)"):
        decode_idx(data[:10], name="x")
    with pytest.raises(ValueError, match=r"x: truncated IDX data \(11 bytes, header \(3, 4\)"):
        decode_idx(data[:-1], name="x")


def test_trailing_bytes():
    data = encode_idx(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"x: 2 trailing bytes after the IDX data of shape"):
        decode_idx(data + b"\x00\x00", name="x")


def test_truncated_gz_file_names_the_file(tmp_path):
    gz = gzip.compress(encode_idx(np.zeros((100, 5), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt gzip data"):
        read_idx(path)


def test_corrupt_gz_stream(tmp_path):
    gz = bytearray(gzip.compress(encode_idx(np.arange(200, dtype=np.uint8))))
    gz[12:20] = b"\xff" * 8  # garbage in the deflate stream
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(ValueError, match=r"bad\.gz: corrupt gzip data"):
        read_raw(path)


def test_gz_with_bad_crc(tmp_path):
    gz = bytearray(gzip.compress(encode_idx(np.arange(200, dtype=np.uint8))))
    gz[-8] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(ValueError, match=r"crc\.gz: corrupt gzip data \(CRC check failed"):
        read_idx(path)


def test_truncated_idx_inside_valid_gz(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(10, np.uint8))[:-3]))
    with pytest.raises(ValueError, match=r"short\.gz: truncated IDX data \(7 bytes"):
        read_idx(path)


def test_encode_refuses_other_dtypes():
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        encode_idx(np.zeros(3, np.int64))
