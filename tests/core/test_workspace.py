"""core.workspace: a kept buffer is handed out again only when nothing refers to it (the
caller's array, a view of it, a tape), small arrays are never kept, the total kept is
bounded, buffers from HUGE_MIN_BYTES are on 2 MiB boundaries advised for huge pages, and
outputs a caller holds survive later calls of the fast path."""

import re
import sys

import numpy as np
import pytest

import lstmkit
from lstmkit.core import workspace

BIG = (64, 1024)  # 256 kB of float32, above MIN_BYTES
HUGE = (300, 1024)  # 1.2 MB of float32, above HUGE_MIN_BYTES: a mapping of its own on Linux
assert np.prod(BIG) * 4 < workspace.HUGE_MIN_BYTES <= np.prod(HUGE) * 4


def address(A):
    return A.__array_interface__["data"][0]


@pytest.mark.parametrize("BIG", [BIG, HUGE], ids=["heap", "huge"])
def test_a_free_buffer_is_handed_out_again_and_a_held_one_never(BIG):
    a = workspace.empty(BIG, np.float32)
    b = workspace.empty(BIG, np.float32)
    assert not np.shares_memory(a, b)
    where = address(a)
    del a
    c = workspace.empty(BIG, np.float32)
    assert address(c) == where  # a's buffer, free again
    assert c.shape == BIG and c.dtype == np.float32 and c.flags.c_contiguous
    d = workspace.empty((2 * BIG[0], BIG[1] // 2), np.float32)  # same size, other shape
    assert not np.shares_memory(d, b) and not np.shares_memory(d, c)


@pytest.mark.parametrize("BIG", [BIG, HUGE], ids=["heap", "huge"])
def test_a_view_or_a_tape_keeps_the_buffer_taken(BIG):
    a = workspace.empty(BIG, np.float64)
    view = a[1:]
    kept = {"tape": a[:, ::2]}
    del a
    b = workspace.empty(BIG, np.float64)
    assert not np.shares_memory(b, view)
    del view
    c = workspace.empty(BIG, np.float64)
    assert not np.shares_memory(c, kept["tape"]) and not np.shares_memory(c, b)


def test_small_arrays_are_not_kept():
    before = workspace.kept_bytes()
    small = workspace.empty((8, 8), np.float32)
    assert small.nbytes < workspace.MIN_BYTES and workspace.kept_bytes() == before


def test_the_workspace_keeps_at_most_max_bytes(monkeypatch):
    monkeypatch.setattr(workspace, "MAX_BYTES", 3 * 2**20)
    held = [workspace.empty((2**18 + k,), np.float32) for k in range(8)]  # 1 MiB each
    assert workspace.kept_bytes() <= 3 * 2**20
    assert workspace.kept_bytes() == sum(map(workspace._footprint, workspace._kept))
    for k, h in enumerate(held):  # what callers hold stays theirs
        h[...] = k
    assert all(np.all(h == k) for k, h in enumerate(held))


def _mapping_flags(A):
    """The VmFlags of the mapping that holds A's first byte, from /proc/self/smaps."""
    at = address(A)
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            span = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
            if span:
                inside = int(span[1], 16) <= at < int(span[2], 16)
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    raise AssertionError("no mapping holds the array")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages: Linux only")
def test_a_large_buffer_starts_a_huge_page_advised_for_huge_pages():
    """From HUGE_MIN_BYTES: at a 2 MiB boundary, in a mapping that madvise marked for huge
    pages ("hg" in smaps' VmFlags), private (no "sh") and writable; a smaller kept buffer is
    NumPy's own."""
    a = workspace.empty(HUGE, np.float32)
    assert address(a) % 2**21 == 0
    flags = _mapping_flags(a)
    assert "hg" in flags and "sh" not in flags and "wr" in flags
    a[...] = 1
    assert a.sum() == a.size
    b = workspace.empty(BIG, np.float32)
    assert "hg" not in _mapping_flags(b)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages: Linux only")
def test_a_huge_page_buffer_counts_its_whole_pages(monkeypatch):
    """1.2 MB on huge pages holds one 2 MiB page once written: kept_bytes and MAX_BYTES count
    2 MiB for it, so two such buffers do not fit in 3 MiB."""
    monkeypatch.setattr(workspace, "_kept", [])
    monkeypatch.setattr(workspace, "_kept_total", 0)
    a = workspace.empty(HUGE, np.float32)
    assert workspace.kept_bytes() == 2**21
    monkeypatch.setattr(workspace, "MAX_BYTES", 3 * 2**20)
    b = workspace.empty(HUGE, np.float32)
    assert not np.shares_memory(a, b)
    assert workspace.kept_bytes() == 2**21  # a's buffer let go (a itself stays valid)
    a[...] = 2
    assert np.all(a == 2)


@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.GRU])
def test_outputs_and_gradients_survive_later_calls(Layer):
    """Outputs of a first call (Y, state, dX, dstate), still held, are not overwritten by the
    later calls on the fast path (which reuse the buffers of the calls in between), and the
    last call's outputs and gradients equal a fresh layer's."""
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(40, 64, 16)).astype(np.float32) for _ in range(4)]
    layer = Layer(16, 64, seed=0)
    Y1, state1 = layer(Xs[0])
    dX1, dstate1 = layer.backward(np.ones_like(Y1))
    held = [Y1, dX1]
    for state in (state1, dstate1):
        held += state if isinstance(state, tuple) else [state]
    copies = [A.copy() for A in held]
    for X in Xs[1:]:
        Y, _ = layer(X)
        dX, _ = layer.backward(np.ones_like(Y))
    assert all(np.array_equal(A, B) for A, B in zip(held, copies, strict=True))
    fresh = Layer(16, 64, seed=0)
    Y_fresh, _ = fresh(Xs[-1])
    dX_fresh, _ = fresh.backward(np.ones_like(Y_fresh))
    assert np.array_equal(Y, Y_fresh) and np.array_equal(dX, dX_fresh)
    assert all(np.array_equal(layer.grads[k], fresh.grads[k]) for k in fresh.grads)


@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.GRU])
def test_writing_into_the_returned_state_changes_nothing_else(Layer):
    """The final state and the initial state's gradient are the caller's own arrays: not
    views of Y or of what BPTT still reads (on the fast path the final state lives in the
    buffers of Y and the tape)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 64, 16)).astype(np.float32)
    dY = rng.normal(size=(40, 64, 64)).astype(np.float32)
    runs = []
    for write in (False, True):
        layer = Layer(16, 64, seed=0)
        Y, state = layer(X)
        Y_before = Y.copy()
        if write:
            for A in state if isinstance(state, tuple) else [state]:
                A[...] = 7
        dX, dstate = layer.backward(dY)
        dX_before = dX.copy()
        if write:
            for A in dstate if isinstance(dstate, tuple) else [dstate]:
                A[...] = 7
        runs.append((Y_before, Y, dX_before, dX, layer.grads))
    (Y0, _, dX0, _, grads0), (Y1_before, Y1, dX1_before, dX1, grads1) = runs
    assert np.array_equal(Y1, Y1_before) and np.array_equal(Y1, Y0)
    assert np.array_equal(dX1, dX1_before) and np.array_equal(dX1, dX0)
    assert all(np.array_equal(grads1[k], grads0[k]) for k in grads0)
