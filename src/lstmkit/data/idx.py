"""The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/, bottom of the page).

    bytes 0-1   0x00 0x00
    byte  2     data type: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte  3     number of dimensions, ndim
    then        ndim sizes, big-endian uint32
    then        the data, big-endian, C order: exactly prod(sizes) items

Files may be gzip-compressed; gzip is recognised by its magic bytes 1f 8b, not the name.
Every malformed input is a ValueError that names the file.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {  # IDX type code: big-endian dtype
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, gz or raw, in native byte order."""
    return decode_idx(read_raw(path), name=str(path))


def read_raw(path: str | Path) -> bytes:
    """A file's bytes, gunzipped when they start with the gzip magic 1f 8b."""
    data = Path(path).read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt gzip data ({err}); replace the file") from err


def decode_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes into an array; name is used in error messages."""
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{name}: not an IDX file (magic {data[:4].hex()}, expected 0000tt0n)")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise ValueError(f"{name}: unknown IDX data type 0x{code:02x} (expected 08, 09, 0b-0e)")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} of {header_bytes} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    dtype = DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header_bytes
    if found < expected:
        raise ValueError(
            f"{name}: truncated IDX data ({found} bytes, header {shape} needs {expected}); "
            f"replace the file"
        )
    if found > expected:
        raise ValueError(
            f"{name}: {found - expected} trailing bytes after the IDX data of shape {shape}; "
            f"replace the file"
        )
    array = np.frombuffer(data, dtype, count=math.prod(shape), offset=header_bytes)
    return array.reshape(shape).astype(dtype.newbyteorder("="))  # a writable native copy


def encode_idx(array: np.ndarray) -> bytes:
    """Uncompressed IDX bytes of an array of one of the IDX dtypes (inverse of decode_idx)."""
    native = array.dtype.newbyteorder("=")
    if native not in CODES:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; use one of {sorted(map(str, CODES))}"
        )
    header = bytes([0, 0, CODES[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, DTYPES[CODES[native]]).tobytes()
