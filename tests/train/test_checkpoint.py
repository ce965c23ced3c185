"""The checkpoint file: exact round trip, refusal of damaged or foreign files, atomic writes."""

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstmkit import __version__
from lstmkit.train import checkpoint
from lstmkit.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    rng_from_state,
    save_checkpoint,
    unflatten_state,
)

CORRUPT = "is truncated or corrupt"


def sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "params/l0.W_x": rng.standard_normal((7, 16)).astype(np.float32),
        "params/l0.b": rng.standard_normal(16),  # float64
        "counts": rng.integers(-5, 5, size=(3, 2), dtype=np.int64),
        "mask": rng.random((4, 3)) > 0.5,
        "tokens": rng.integers(0, 255, size=9, dtype=np.uint8),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float64),
        "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
        "strided": rng.standard_normal((6, 6)).astype(np.float32)[::2, 1::2],
        "complex": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64),
    }


META = {
    "config": {"hidden": 16, "cell": "lstm", "sizes": [1, 2]},
    "epoch": 3,
    "loss": 0.125,
    "best": float("inf"),
    "note": "ünïcode",
    "big": 2**100,
    "none": None,
    "flag": True,
}


def assert_same_arrays(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, array in expected.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    save_checkpoint(path, sample_arrays(), META)
    return path


def test_round_trip_is_exact(saved):
    arrays, meta = load_checkpoint(saved)
    assert_same_arrays(arrays, sample_arrays())
    assert meta == {**META, "schema_version": 1, "lstmkit_version": __version__}
    assert sorted(os.listdir(saved.parent)) == ["model.npz"]  # no temporary file left


def test_resaving_loaded_meta_works(saved, tmp_path):
    arrays, meta = load_checkpoint(saved)
    save_checkpoint(tmp_path / "again.npz", arrays, meta)
    assert load_checkpoint(tmp_path / "again.npz")[1] == meta


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_files_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    offsets = np.random.default_rng(1).choice(len(data), size=20, replace=False)
    for offset in offsets:
        cut = tmp_path / f"cut{offset}.npz"
        cut.write_bytes(data[:offset])
        with pytest.raises(ValueError, match=rf"cut{offset}\.npz {CORRUPT}"):
            load_checkpoint(cut)


def flip(path: Path, offset: int, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    out.write_bytes(bytes(data))
    return out


def test_flipped_bytes_in_the_payload_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    arrays = sample_arrays()
    starts = [data.find(arrays["params/l0.W_x"].tobytes()), data.find(b'"sha256"')]
    starts += [data.find(b'"hidden"'), data.find(arrays["counts"].tobytes())]
    assert -1 not in starts
    for start in starts:
        for offset in (start, start + 5):
            bad = flip(saved, offset, tmp_path / f"flip{offset}.npz")
            with pytest.raises(ValueError, match=CORRUPT):
                load_checkpoint(bad)


def test_flipped_bytes_anywhere_never_pass_as_changed_content(saved, tmp_path):
    """A flip is refused, or it hit zip bookkeeping the payload does not depend on."""
    data_len = saved.stat().st_size
    expected = load_checkpoint(saved)
    refused = 0
    for offset in np.random.default_rng(2).choice(data_len, size=60, replace=False):
        bad = flip(saved, offset, tmp_path / "flip.npz")
        try:
            arrays, meta = load_checkpoint(bad)
        except ValueError as err:
            assert "flip.npz" in str(err)
            refused += 1
            continue
        assert_same_arrays(arrays, expected[0])
        assert meta == expected[1]
    assert refused > 40


def test_a_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(
        ValueError, match=r"foreign\.npz is an \.npz file but not an lstmkit checkpoint"
    ):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"not a zip at all\n", b""])
def test_a_file_that_is_no_npz_is_refused(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"junk\.npz {CORRUPT}"):
        load_checkpoint(path)


class TouchOnUnpickle:
    """Unpickling this creates the marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_object_arrays_are_refused_without_unpickling(saved, tmp_path):
    marker = tmp_path / "unpickled"
    bait = np.array([TouchOnUnpickle(marker)], dtype=object)
    # a foreign npz with a pickled entry, and a real checkpoint with one added
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, bait=bait)
    with zipfile.ZipFile(saved, "a") as archive, archive.open("bait.npy", "w") as member:
        np.lib.format.write_array(member, bait, allow_pickle=True)
    with pytest.raises(ValueError, match="not an lstmkit checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(ValueError, match=rf"{CORRUPT} .*allow_pickle=False"):
        load_checkpoint(saved)
    assert not marker.exists()
    np.load(saved, allow_pickle=True)["bait"]  # the bait is live: unpickling touches marker
    assert marker.exists()


def test_a_newer_schema_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "future.npz"
    monkeypatch.setattr(checkpoint, "SCHEMA_VERSION", 2)
    save_checkpoint(path, sample_arrays(), META)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"future\.npz has schema version 2, .*upgrade lstmkit"):
        load_checkpoint(path)


def fail_on_second_array(real):
    calls = []

    def write_array(file, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            file.write(b"half an array")
            raise OSError("disk full")
        real(file, array, *args, **kwargs)

    return write_array


def raise_oserror(*args, **kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("failing", ["write_array", "fsync", "replace"])
def test_a_failed_save_leaves_the_old_file(saved, monkeypatch, failing):
    if failing == "write_array":
        monkeypatch.setattr(
            np.lib.format, "write_array", fail_on_second_array(np.lib.format.write_array)
        )
    else:
        monkeypatch.setattr(os, failing, raise_oserror)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(saved, {"other": np.ones(3), "more": np.zeros(2)}, {"new": True})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(saved)
    assert_same_arrays(arrays, sample_arrays())
    assert meta["epoch"] == 3
    assert sorted(os.listdir(saved.parent)) == ["model.npz"]


@pytest.mark.parametrize(
    ("arrays", "meta", "error", "match"),
    [
        ({"x": np.array([object()], dtype=object)}, {}, ValueError, "object array"),
        ({"x": [1.0, 2.0]}, {}, TypeError, "not an ndarray"),
        ({"__lstmkit__": np.ones(2)}, {}, ValueError, "reserved"),
        ({"x": np.ones(2)}, {"bad": np.ones(2)}, TypeError, "JSON serializable"),
    ],
)
def test_save_refuses_what_it_cannot_store(tmp_path, arrays, meta, error, match):
    with pytest.raises(error, match=match):
        save_checkpoint(tmp_path / "x.npz", arrays, meta)
    assert os.listdir(tmp_path) == []


def test_flatten_and_unflatten_round_trip(tmp_path):
    state = {
        "params": {"l0.W_x": np.ones((2, 3), np.float32)},
        "optimizer": {"lr": 0.001, "t": 7, "exp_avg.l0.W_x": np.zeros((2, 3), np.float32)},
        "schedule": {"best": float("inf"), "last_epoch": np.int64(4)},
        "empty": {},
        "misc": {"name": "run", "flag": False, "nothing": None, "half": np.float32(0.5)},
    }
    arrays, tree = flatten_state(state)
    assert sorted(arrays) == ["optimizer/exp_avg.l0.W_x", "params/l0.W_x"]
    json.dumps(tree)  # the tree is plain JSON
    save_checkpoint(tmp_path / "s.npz", arrays, {"state": tree})
    loaded_arrays, meta = load_checkpoint(tmp_path / "s.npz")
    restored = unflatten_state(loaded_arrays, meta["state"])
    assert restored.keys() == state.keys() and restored["empty"] == {}
    assert restored["optimizer"]["t"] == 7 and type(restored["optimizer"]["t"]) is int
    assert restored["schedule"] == {"best": float("inf"), "last_epoch": 4}
    assert restored["misc"] == {"name": "run", "flag": False, "nothing": None, "half": 0.5}
    np.testing.assert_array_equal(restored["params"]["l0.W_x"], state["params"]["l0.W_x"])
    assert restored["params"]["l0.W_x"].dtype == np.float32


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ({"a/b": 1}, ValueError, "without '/'"),
        ({"": 1}, ValueError, "non-empty"),
        ({"a": {3: 1}}, ValueError, "must be a non-empty str"),
        ({"a": [1, 2]}, TypeError, r"'a' is a list"),
    ],
)
def test_flatten_refuses_unstorable_state(state, error, match):
    with pytest.raises(error, match=match):
        flatten_state(state)


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_rng_state_through_checkpoint_continues_the_stream(bit_generator, tmp_path):
    rng = np.random.Generator(getattr(np.random, bit_generator)(1234))
    rng.standard_normal(17)
    rng.integers(0, 10, size=3)  # leaves a buffered 32-bit half where the generator keeps one
    arrays, tree = flatten_state({"rng": rng.bit_generator.state})
    save_checkpoint(tmp_path / "rng.npz", arrays, {"state": tree})
    loaded_arrays, meta = load_checkpoint(tmp_path / "rng.npz")
    resumed = rng_from_state(unflatten_state(loaded_arrays, meta["state"])["rng"])
    np.testing.assert_array_equal(resumed.standard_normal(50), rng.standard_normal(50))
    np.testing.assert_array_equal(resumed.integers(0, 2**31, 9), rng.integers(0, 2**31, 9))


def test_rng_from_state_refuses_unknown_generators():
    with pytest.raises(ValueError, match="unknown bit generator 'os.system'"):
        rng_from_state({"bit_generator": "os.system", "state": {}})
