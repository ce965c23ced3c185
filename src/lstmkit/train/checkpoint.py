"""The checkpoint file: named arrays plus JSON metadata in one .npz, written atomically.

Layout: an uncompressed .npz (a zip of .npy files) holding each array under its name, and
one reserved entry "__lstmkit__": a uint8 array with the UTF-8 JSON

    {"sha256": <hex digest of the payload>, "meta": {<meta>, "schema_version": 1,
                                                     "lstmkit_version": "0.1.0"}}

The digest covers the metadata and, in name order, each array's name, dtype, shape and
bytes, so corruption that the zip's own CRCs let through is caught too. Nothing in the file
is pickled: object arrays are refused when saving, and loading uses
numpy.load(allow_pickle=False), so it never unpickles.

Nested state (optimizer and schedule state, the state of a numpy.random.Generator) goes in
through flatten_state, which splits it into arrays and a JSON tree for meta, and comes back
through unflatten_state; rng_from_state rebuilds a Generator from rng.bit_generator.state.
"""

import copy
import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
HEADER_KEY = "__lstmkit__"  # reserved entry name for the JSON header

# what reading a damaged .npz raises in zipfile (RuntimeError: encrypted or unsupported
# flags), numpy's .npy reader and the header parse
_READ_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
)

Arrays = dict[str, np.ndarray]


def save_checkpoint(path: str | os.PathLike, arrays: Arrays, meta: dict[str, Any]) -> None:
    """Write arrays and meta (JSON-serializable; NaN and inf allowed) to path, atomically.

    schema_version and lstmkit_version are added to meta. The file is written to a temporary
    file in the same directory, flushed to disk, then renamed over path: an interrupted or
    failed save leaves any previous file at path as it was.
    """
    from lstmkit import __version__

    path = Path(path)
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"checkpoint entry {name!r} is a {type(array).__name__}, not an ndarray"
            )
        if array.dtype.hasobject:
            raise ValueError(f"checkpoint entry {name!r} is an object array; store numbers only")
        if name == HEADER_KEY or not name:
            raise ValueError(f"checkpoint entry name {name!r} is reserved or empty")
    meta = {**meta, "schema_version": SCHEMA_VERSION, "lstmkit_version": __version__}
    header = {"sha256": _digest(arrays, meta), "meta": meta}
    entries = {**arrays, HEADER_KEY: np.frombuffer(json.dumps(header).encode(), np.uint8)}

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as file:
            # zipfile + write_array is numpy.savez without its keyword names (file,
            # allow_pickle) that would collide with entry names, and with pickling off
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                for name, array in entries.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def load_checkpoint(path: str | os.PathLike) -> tuple[Arrays, dict[str, Any]]:
    """Read a checkpoint written by save_checkpoint: (arrays, meta), meta with its versions.

    Raises FileNotFoundError for a missing file, and ValueError, naming the file, for a
    truncated or corrupt file (including an entry that would need unpickling), an .npz that
    is not an lstmkit checkpoint, and a schema version newer than this lstmkit reads.
    """
    from lstmkit import __version__

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; check the path")
    if not zipfile.is_zipfile(path):
        raise _corrupt(path, "not a complete .npz file")
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise _corrupt(path, err) from err
    with npz:
        if HEADER_KEY not in npz.files:
            raise ValueError(
                f"{path} is an .npz file but not an lstmkit checkpoint (it has no "
                f"{HEADER_KEY!r} entry); read it with numpy.load"
            )
        try:
            header = json.loads(npz[HEADER_KEY].tobytes().decode())
            digest, meta = header["sha256"], header["meta"]
            version = int(meta["schema_version"])
        except _READ_ERRORS as err:
            raise _corrupt(path, err) from err
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"checkpoint {path} has schema version {version}, newer than the version "
                f"{SCHEMA_VERSION} that lstmkit {__version__} reads; upgrade lstmkit"
            )
        try:  # numpy refuses object (pickled) entries here, before reading their bytes
            arrays = {name: npz[name] for name in npz.files if name != HEADER_KEY}
        except _READ_ERRORS as err:
            raise _corrupt(path, err) from err
    if digest != _digest(arrays, meta):
        raise _corrupt(path, "checksum mismatch")
    return arrays, meta


def flatten_state(state: Mapping[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    """Split nested state into (arrays, tree) for save_checkpoint's arrays and meta.

    The arrays are the ndarray leaves, named by their key path joined with "/"; the tree is
    the same nesting with the other leaves (None, bool, int, float, str; numpy scalars become
    Python ones) and without the arrays. Keys are non-empty strings without "/".
    """
    arrays: Arrays = {}

    def split(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str) or not key or "/" in key:
                raise ValueError(
                    f"state key {prefix + str(key)!r} must be a non-empty str without '/'"
                )
            if isinstance(value, Mapping):
                tree[key] = split(value, f"{prefix}{key}/")
            elif isinstance(value, np.ndarray):
                arrays[prefix + key] = value
            elif isinstance(value, np.generic):
                tree[key] = value.item()
            elif value is None or isinstance(value, bool | int | float | str):
                tree[key] = value
            else:
                raise TypeError(f"state {prefix + key!r} is a {type(value).__name__}, not storable")
        return tree

    return arrays, split(state, "")


def unflatten_state(arrays: Arrays, tree: dict[str, Any]) -> dict[str, Any]:
    """The nested state that flatten_state split into (arrays, tree)."""
    state = copy.deepcopy(tree)
    for name, array in arrays.items():
        *parents, leaf = name.split("/")
        node = state
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = array
    return state


_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (
        np.random.PCG64,
        np.random.PCG64DXSM,
        np.random.MT19937,
        np.random.Philox,
        np.random.SFC64,
    )
}


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A Generator that continues exactly where the one with rng.bit_generator.state == state
    stopped (any of numpy's bit generators)."""
    name = state.get("bit_generator")
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}; expected one of {list(_BIT_GENERATORS)}")
    bit_generator = _BIT_GENERATORS[name]()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _digest(arrays: Arrays, meta: dict[str, Any]) -> str:
    sha = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        array = arrays[name]
        sha.update(json.dumps([name, array.dtype.str, array.shape]).encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def _corrupt(path: Path, detail: object) -> ValueError:
    if isinstance(detail, Exception):
        detail = f"{type(detail).__name__}: {detail}"
    return ValueError(f"checkpoint {path} is truncated or corrupt ({detail}); restore a good copy")
