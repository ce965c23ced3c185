"""core.kernels: the fast path equals the NumPy reference path, and it is the path that ran.

Every comparison runs the same layer twice, once with LSTMKIT_NO_JIT=1 (the NumPy loops of
core.sequence calling the cells' step functions) and once on the automatic path, and holds
each output, final state and gradient to the per-tensor error max|a - b| / max(max|b|, 1e-8)
below 2e-6 in float32 and 1e-12 in float64. The three ways of running the fast path are
covered: the whole time loop compiled (small steps; its GEMMs by lstmkit's tile kernels on
the packed weights), the Python loop around one NumPy GEMM and one fused kernel per step
(kernels.WHOLE_LOOP_MAX_MACS moved to force each), and row blocks (the whole loop on two
blocks of rows at once, kernels.row_blocks replaced to force them). Each test
also checks that the compiled functions it expects were called (kernels.calls) and hold
compiled signatures.
"""

import os
import subprocess
import sys
import threading
import tracemalloc

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import lstmkit
from lstmkit.core import kernels, sequence
from lstmkit.core.gru import GRUStep
from lstmkit.core.lstm import LSTMStep

N, T, D, H = 3, 7, 4, 5
TOL = {np.float32: 2e-6, np.float64: 1e-12}

VARIANTS = {
    "LSTM": lambda **kw: lstmkit.LSTM(D, H, **kw),
    "LSTM-peephole": lambda **kw: lstmkit.LSTM(D, H, peephole=True, **kw),
    "LSTM-coupled": lambda **kw: lstmkit.LSTM(D, H, coupled=True, **kw),
    "LSTM-peephole-coupled": lambda **kw: lstmkit.LSTM(D, H, peephole=True, coupled=True, **kw),
    "GRU": lambda **kw: lstmkit.GRU(D, H, **kw),
}
STACKS = {"1 layer": dict(num_layers=1), "2 layers bidirectional": dict(num_layers=2,
                                                                       bidirectional=True)}
PADDINGS = {"full": {}, "lengths": {"lengths": np.array([T, 0, 3])},
            "left-mask": {"mask": np.arange(T)[None, :] >= np.array([0, 2, T - 1])[:, None]}}
PATHS = {"whole loop": 2**60, "per step": -1, "row blocks": -1}  # kernels.WHOLE_LOOP_MAX_MACS
MODES = {"whole loop": "loop", "per step": "step", "row blocks": "blocks"}  # kernels.calls


def force_path(monkeypatch, path):
    monkeypatch.setattr(kernels, "WHOLE_LOOP_MAX_MACS", PATHS[path])
    if path == "row blocks":  # two blocks of the N = 3 rows, (0, 1) and (1, 3), two threads,
        # the forward running the second in two slices of one row
        monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: kernels.split_rows(N, 2))
        monkeypatch.setattr(kernels, "SLICE_ROWS", 1)


def error(a, b):
    """max|a - b| / max(max|b|, 1e-8), the per-tensor error of the suite."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b), initial=0)), 1e-8))


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


def make_layer(variant, stack, dtype):
    layer = VARIANTS[variant](dtype=dtype, seed=0, **STACKS[stack])
    rng = np.random.default_rng(7)
    for A in layer.params.values():  # larger weights: gates away from 0.5, C grows
        A[...] = rng.uniform(-1, 1, A.shape).astype(dtype)
    return layer


def inputs(layer, dtype, seed=1):
    rng = np.random.default_rng(seed)
    K = layer.num_layers * layer.num_directions
    n_state = 2 if isinstance(layer, lstmkit.LSTM) else 1
    X = rng.normal(0, 1, (T, N, D)).astype(dtype)
    state0 = [rng.normal(0, 1, (K, N, H)).astype(dtype) for _ in range(n_state)]
    dY = rng.normal(0, 1, (T, N, layer.num_directions * H)).astype(dtype)
    dstate = [rng.normal(0, 1, (K, N, H)).astype(dtype) for _ in range(n_state)]
    return X, state0, dY, dstate


def pack(arrays):
    return tuple(arrays) if len(arrays) > 1 else arrays[0]


def run(layer, X, state0, dY, dstate, padding, truncate=None):
    """Everything a forward + backward produces, in one flat dict."""
    layer.train()
    Y, state = layer(X, pack(state0), **padding)
    dX, dstate0 = layer.backward(dY, pack(dstate), truncate=truncate)
    out = {"Y": Y, "dX": dX}
    out.update({f"state[{i}]": A for i, A in enumerate(as_list(state))})
    out.update({f"dstate0[{i}]": A for i, A in enumerate(as_list(dstate0))})
    out.update({f"grad {name}": g.copy() for name, g in layer.grads.items()})
    return out


def both_paths(monkeypatch, layer, *args, **kwargs):
    """(NumPy path, fast path, kernels.calls added by the fast run)."""
    monkeypatch.setenv("LSTMKIT_NO_JIT", "1")
    before = dict(kernels.calls)
    reference = run(layer, *args, **kwargs)
    assert kernels.calls == before, "LSTMKIT_NO_JIT=1 still ran a kernel"
    monkeypatch.delenv("LSTMKIT_NO_JIT")
    fast = run(layer, *args, **kwargs)
    ran = {name: n - before.get(name, 0) for name, n in kernels.calls.items()
           if n > before.get(name, 0)}
    return reference, fast, ran


def assert_close(fast, reference, dtype):
    assert fast.keys() == reference.keys()
    errors = {name: error(fast[name], reference[name]) for name in reference}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL[dtype], f"{worst}: error {errors[worst]:.2e}"


def assert_compiled_and_ran(ran, layer, path):
    """The runner called the expected kind of kernel, and it holds compiled code."""
    mode = MODES[path]
    cell = type(layer.step).__name__[:-4].lower()
    assert set(ran) == {f"{cell}_forward_{mode}", f"{cell}_backward_{mode}"}, ran
    functions = kernels.functions(layer.step)
    compiled = "step" if mode == "step" else "loop"
    for name in (f"forward_{compiled}", f"backward_{compiled}"):
        assert getattr(functions, name).signatures, f"{name} holds no compiled signature"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fast_path_equals_numpy_path(dtype, variant, stack, padding, path, monkeypatch):
    force_path(monkeypatch, path)
    layer = make_layer(variant, stack, dtype)
    reference, fast, ran = both_paths(monkeypatch, layer, *inputs(layer, dtype),
                                      PADDINGS[padding])
    assert_close(fast, reference, dtype)
    assert_compiled_and_ran(ran, layer, path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("truncate", [1, 3])
@pytest.mark.parametrize("variant", ["LSTM", "GRU"])
def test_truncated_bptt_equals_numpy_path(variant, truncate, path, monkeypatch):
    force_path(monkeypatch, path)
    layer = make_layer(variant, "2 layers bidirectional", np.float64)
    reference, fast, ran = both_paths(monkeypatch, layer, *inputs(layer, np.float64),
                                      PADDINGS["left-mask"], truncate=truncate)
    assert_close(fast, reference, np.float64)
    assert_compiled_and_ran(ran, layer, path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("variant", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_eval_mode_equals_numpy_path_and_keeps_no_tape(variant, dtype, path, monkeypatch):
    force_path(monkeypatch, path)
    layer = make_layer(variant, "2 layers bidirectional", dtype).eval()
    X, state0, _, _ = inputs(layer, dtype)
    monkeypatch.setenv("LSTMKIT_NO_JIT", "1")
    Y_ref, state_ref = layer(X, pack(state0), **PADDINGS["lengths"])
    monkeypatch.delenv("LSTMKIT_NO_JIT")
    mode = MODES[path]
    counter = f"{variant.lower()}_forward_{mode}"
    before = kernels.calls.get(counter, 0)
    Y, state = layer(X, pack(state0), **PADDINGS["lengths"])
    assert kernels.calls[counter] == before + 4  # 2 layers x 2 directions
    assert layer._tape is None
    assert error(Y, Y_ref) < TOL[dtype]
    for A, B in zip(as_list(state), as_list(state_ref), strict=True):
        assert error(A, B) < TOL[dtype]


def test_float32_activations_are_within_4e7_of_numpy():
    @numba.njit
    def apply(x, tanh, sigmoid):
        for j in range(x.shape[0]):
            tanh[j] = kernels._tanh(x[j])
            sigmoid[j] = kernels._sigmoid(x[j])

    x = np.concatenate([np.linspace(-30, 30, 200_001), [-1e30, -88.0, 0.0, 1e-30, 88.0, 1e30]])
    x = x.astype(np.float32)
    tanh, sigmoid = np.empty_like(x), np.empty_like(x)
    apply(x, tanh, sigmoid)
    assert tanh.dtype == sigmoid.dtype == np.float32
    x64 = x.astype(np.float64)
    assert np.max(np.abs(tanh - np.tanh(x64))) < 4e-7
    assert np.max(np.abs(sigmoid - (0.5 + 0.5 * np.tanh(0.5 * x64)))) < 4e-7
    assert np.all(np.abs(tanh) <= 1) and np.all((sigmoid >= 0) & (sigmoid <= 1))


# ---------------------------------------------------------------- dispatch


@pytest.mark.parametrize("step, covered", [
    (LSTMStep(), True),
    (LSTMStep(peephole=True, coupled=True), True),
    (LSTMStep(clip=3.0), False),
    (LSTMStep(gate_activation="hard_sigmoid"), False),
    (LSTMStep(cell_activation="relu"), False),
    (LSTMStep(candidate_activation=lstmkit.core.activations.Activation("scaled_tanh")), False),
    (GRUStep(), True),
    (GRUStep(linear_before_reset=False), False),
    (GRUStep(candidate_activation="softsign"), False),
])
def test_covers_the_default_activations_only(step, covered):
    assert kernels.covers(step) is covered


def test_uncovered_options_and_no_jit_run_the_numpy_path(monkeypatch):
    X = np.random.default_rng(0).normal(size=(T, N, D)).astype(np.float32)
    dY = np.ones((T, N, H), np.float32)
    for layer, env in [(lstmkit.LSTM(D, H, clip=5.0), None), (lstmkit.LSTM(D, H), "1"),
                       (lstmkit.GRU(D, H, linear_before_reset=False), None)]:
        if env:
            monkeypatch.setenv("LSTMKIT_NO_JIT", env)
        before = dict(kernels.calls)
        layer(X)
        assert layer._tape.tapes[0].fast is None
        assert isinstance(layer._tape.tapes[0].caches, list)
        layer.backward(dY)
        assert kernels.calls == before
        monkeypatch.delenv("LSTMKIT_NO_JIT", raising=False)


def test_whole_loop_is_chosen_for_small_steps_or_one_blas_thread():
    """With several BLAS threads, a step's GEMM of at most 2^19 multiply-adds; with one, any."""
    with threadpool_limits(2):
        assert kernels.whole_loop(1, 32, 4)  # tiny: N=1, H=32
        assert kernels.whole_loop(32, 64, 4)  # stock: 32 x 64 x 256 = 2^19
        assert not kernels.whole_loop(64, 128, 4)  # mnist
        assert not kernels.whole_loop(128, 512, 3)
        before = dict(kernels.calls)
        lstmkit.LSTM(8, 32)(np.zeros((20, 1, 8), np.float32))
        lstmkit.LSTM(8, 128)(np.zeros((2, 64, 8), np.float32))
        ran = {k for k, n in kernels.calls.items() if n > before.get(k, 0)}
        assert ran == {"lstm_forward_loop", "lstm_forward_step"}
    with threadpool_limits(1):
        assert kernels.whole_loop(64, 128, 4) and kernels.whole_loop(128, 512, 3)
        before = dict(kernels.calls)
        lstmkit.LSTM(8, 128)(np.zeros((2, 64, 8), np.float32))
        assert kernels.calls["lstm_forward_loop"] == before.get("lstm_forward_loop", 0) + 1


def blas_counts():
    """{library file: thread count} of every BLAS library loaded."""
    return {info["filepath"]: info["num_threads"]
            for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_pack_columns_lays_out_panels_from_any_layout(dtype):
    """pack_columns reads a row-major matrix row by row and a transposed view (W_h^T) column by
    column, contiguous or not; all give NumPy's panels of the zero-padded matrix."""
    w = kernels.panel_width(dtype)
    rng = np.random.default_rng(0)
    for K, N in ((1, 1), (7, w), (9, w + 5), (33, 3 * w - 1)):
        B = rng.normal(size=(K, N)).astype(dtype)
        padded = np.zeros((K, -(-N // w) * w), dtype)
        padded[:, :N] = B
        expected = padded.reshape(K, -1, w).transpose(1, 0, 2)
        views = (B, np.ascontiguousarray(B.T).T,  # C-ordered; transposed
                 np.concatenate([B, B], axis=1)[:, :N],  # rows apart by 2N
                 np.concatenate([B.T, B.T], axis=1)[:, :K].T)  # transposed, columns apart by 2K
        for view in views:
            assert view.shape == B.shape and np.array_equal(view, B)
            packed = kernels.pack_columns(view, kernels.packed_empty(view))
            assert packed.flags.c_contiguous and packed.dtype == dtype
            np.testing.assert_array_equal(packed, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_packed_matmul_equals_the_product_for_every_shape_of_tile(dtype):
    """The compiled loops' GEMM: whole tiles of TILE_ROWS rows and single rows (by
    ROW_PANELS panels at once and by one), whole panels and a last partial one, one inner
    dimension; against a float64 product."""
    matmul = numba.njit(kernels._packed_matmul)
    w = kernels.panel_width(dtype)
    assert w == 2 * 32 // np.dtype(dtype).itemsize or w == 2 * 64 // np.dtype(dtype).itemsize
    rng = np.random.default_rng(0)
    for M in (1, 3, kernels.TILE_ROWS, 2 * kernels.TILE_ROWS + 1):
        for K in (1, 9, 70):
            for cols in (5, w, w + 3, 3 * w, 4 * w - 3, 4 * w + 3, 8 * w):
                A = rng.normal(size=(M, K)).astype(dtype)
                B = rng.normal(size=(K, cols)).astype(dtype)
                packed = kernels.pack_columns(B, kernels.packed_empty(B))
                assert packed.shape == (-(-cols // w), K, w) and packed.flags.c_contiguous
                out = np.full((M, cols + 2), np.nan, dtype)[:, :cols]  # beyond: left alone
                out = np.ascontiguousarray(out)
                matmul(A, packed, out)
                reference = A.astype(np.float64) @ B.astype(np.float64)
                assert error(out, reference) < TOL[dtype] / 4, (M, K, cols)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_add_outer_adds_the_sum_of_products_over_strided_steps(dtype):
    """The row blocks' weight-gradient GEMM: C += sum_s A[s]^T B[s] over views of some rows of
    every step (as H_prev[:, r0:r1], strides between steps and rows), one tile or several in
    each direction, rows beyond the whole tiles, one step or more; C's earlier values kept;
    against a float64 product."""
    add_outer = numba.njit(kernels._add_outer)
    w = kernels.outer_columns(np.dtype(dtype).itemsize)
    assert w in (2 * 64 // np.dtype(dtype).itemsize, 4 * 64 // np.dtype(dtype).itemsize)
    rows = kernels.OUTER_ROWS
    rng = np.random.default_rng(0)
    for S, R, M, cols in ((1, 1, rows, w), (2, 3, 3 * rows, 2 * w), (5, 7, 2 * rows, 3 * w),
                          (1, 2, 1, w), (3, 4, rows + 3, 2 * w)):  # rows beyond whole tiles
        A = rng.normal(size=(S + 1, R + 4, M)).astype(dtype)[1:, 2:2 + R]
        B = rng.normal(size=(S, R + 4, cols)).astype(dtype)[:, 1:1 + R]
        C = rng.normal(size=(M, cols)).astype(dtype)
        expected = C + np.einsum("srm,srn->mn", A.astype(np.float64), B.astype(np.float64))
        add_outer(A, B, C)
        assert error(C, expected) < TOL[dtype] / 4, (S, R, M, cols)


_SSE2_CHECK = """
import numba, numpy as np, lstmkit
from lstmkit.core import kernels
assert kernels._VECTOR_BYTES == 32 and kernels.panel_width(np.float32) == 16
rng = np.random.default_rng(0)
A, B = rng.normal(size=(6, 33)), rng.normal(size=(33, 37))
out = np.empty((6, 37))
numba.njit(kernels._packed_matmul)(A, kernels.pack_columns(B, kernels.packed_empty(B)), out)
assert np.max(np.abs(out - A @ B)) < 1e-12
A, B, C = rng.normal(size=(3, 5, 8)), rng.normal(size=(3, 5, 32)), np.zeros((8, 32))
numba.njit(kernels._add_outer)(A, B, C)
assert np.max(np.abs(C - np.einsum("srm,srn->mn", A, B))) < 1e-12
layer = lstmkit.LSTM(3, 20, dtype=np.float64, seed=0)
X = rng.normal(size=(6, 2, 3))
Y_fast, _ = layer(X)
assert kernels.calls == {"lstm_forward_loop": 1}, kernels.calls
import os
os.environ["LSTMKIT_NO_JIT"] = "1"
Y_numpy, _ = layer(X)
assert np.max(np.abs(Y_fast - Y_numpy)) < 1e-12
print("ok")
"""


def test_the_gemm_tiles_for_machines_without_avx512(tmp_path):
    """Compiled for a CPU without AVX-512 (numba told so, in a new process), the tiles use
    32-byte vectors and panels of 16 float32 columns, and still compute the products (the
    packed and the outer tiles') and the NumPy path's outputs."""
    env = {**os.environ, "NUMBA_CPU_NAME": "x86-64", "NUMBA_CACHE_DIR": str(tmp_path),
           "NUMBA_CPU_FEATURES": "+64bit,+cmov,+cx8,+fxsr,+mmx,+sse,+sse2"}
    out = subprocess.run([sys.executable, "-c", _SSE2_CHECK], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-2000:]


def workers_sleep_soon(monkeypatch, timeout=22):
    """As if NumPy's OpenBLAS had loaded with OPENBLAS_THREAD_TIMEOUT=timeout."""
    monkeypatch.setattr(kernels, "loaded_thread_timeout", lambda path: timeout)


@pytest.mark.parametrize(("timeout", "threads", "shape", "expected"), [
    (22, 2, (64, 128, 4), ((0, 32), (32, 64))),  # mnist: two blocks of 32 rows
    (4, 2, (32, 64, 4), ((0, 16), (16, 32))),  # stock, 2^19 multiply-adds
    (1, 2, (32, 64, 4), ((0, 16), (16, 32))),  # OpenBLAS takes 1 as 4
    (22, 1, (64, 128, 4), ((0, 64),)),  # one BLAS thread: one block
    (0, 2, (64, 128, 4), ((0, 64),)),  # unset, OpenBLAS's default: its workers spin 0.1 s
    (-3, 2, (64, 128, 4), ((0, 64),)),  # taken as unset
    (23, 2, (64, 128, 4), ((0, 64),)),
    (22, 2, (16, 64, 4), ((0, 16),)),  # 2^18: ROW_BLOCK_MIN_MACS
    (22, 2, (12, 256, 4), ((0, 12),)),  # fewer than 2 x 8 rows
])
def test_row_blocks_only_where_openblas_workers_sleep_soon(timeout, threads, shape, expected,
                                                           monkeypatch):
    """One block per BLAS thread when OpenBLAS loaded with OPENBLAS_THREAD_TIMEOUT 1 to 22, the
    step's GEMM above 2^18 multiply-adds and each block at least 8 rows; else the one block
    (0, N)."""
    workers_sleep_soon(monkeypatch, timeout)
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "22")  # read only where OpenBLAS does not say
    with threadpool_limits(threads):
        assert kernels.row_blocks(*shape) == expected
        seen = []
        thread = threading.Thread(target=lambda: seen.append(kernels.row_blocks(*shape)))
        thread.start()
        thread.join(60)
        assert seen == [expected]  # the same on any thread


@pytest.mark.parametrize(("environment", "expected"), [
    ("22", ((0, 32), (32, 64))), ("28", ((0, 64),)), ("soon", ((0, 64),)), (None, ((0, 64),)),
])
def test_a_blas_that_does_not_report_its_timeout_goes_by_the_environment(environment, expected,
                                                                         monkeypatch):
    """Where the BLAS has no openblas_thread_timeout (another library, an older OpenBLAS), the
    environment's OPENBLAS_THREAD_TIMEOUT decides, read at the call."""
    workers_sleep_soon(monkeypatch, None)
    if environment is None:
        monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", environment)
    with threadpool_limits(2):
        assert kernels.row_blocks(64, 128, 4) == expected


_TIMEOUT_CHECK = """
import os, sys
import numpy as np
from threadpoolctl import threadpool_limits
from lstmkit.core import kernels
if sys.argv[1] == "set-late":  # after NumPy loaded OpenBLAS: OpenBLAS never sees it
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "22"
lib = kernels._numpy_blas()
with threadpool_limits(2):
    print(kernels.loaded_thread_timeout(lib.filepath), len(kernels.row_blocks(64, 128, 4)))
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "28"  # too late again: nothing changes
    print(len(kernels.row_blocks(64, 128, 4)))
"""


@pytest.mark.parametrize(("how", "expected"), [
    ("set-before-start", ["22", "2", "2"]),
    ("set-late", ["0", "1", "1"]),
    ("unset", ["0", "1", "1"]),
])
def test_row_blocks_follow_the_timeout_openblas_loaded_with(how, expected):
    """NumPy's real OpenBLAS, in a new process: OPENBLAS_THREAD_TIMEOUT=22 in the environment at
    start gives row blocks; set from Python after NumPy loaded, as OpenBLAS never reads it
    then, it gives none; changing it later moves nothing."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if how == "set-before-start":
        env["OPENBLAS_THREAD_TIMEOUT"] = "22"
    out = subprocess.run([sys.executable, "-c", _TIMEOUT_CHECK, how], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == expected


def test_a_layer_runs_row_blocks_by_itself_each_projecting_its_rows(monkeypatch):
    """With 2 BLAS threads and OpenBLAS's workers sleeping soon, a stock-sized layer (32 rows,
    2^19 multiply-adds a step) runs forward and BPTT in two row blocks, each block projecting
    its own rows of the input step by step (no NumPy GEMM for it: the forward loop gets W_x
    packed) and computing its share of the weight gradients, and equals the NumPy path."""
    workers_sleep_soon(monkeypatch)
    projected = []
    monkeypatch.setattr(kernels, "_input_projection", lambda *args: projected.append(args))
    layer = lstmkit.LSTM(3, 64, seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 32, 3)).astype(np.float32)
    dY = rng.normal(size=(5, 32, 64)).astype(np.float32)
    with threadpool_limits(2):
        state = [rng.normal(size=(1, 32, 64)).astype(np.float32) for _ in range(2)]
        reference, fast, ran = both_paths(monkeypatch, layer, X, state, dY, state, {})
    assert ran == {"lstm_forward_blocks": 1, "lstm_backward_blocks": 1,
                   "lstm_weight_grads_blocks": 1}
    assert projected == []
    packed_arguments = {signature[3] for signature in kernels.lstm_functions(False, False)
                        .forward_loop.signatures}  # flags, j, X, W_x_packed, ...
    assert numba.types.Array(numba.float32, 3, "C") in packed_arguments
    assert_close(fast, reference, np.float32)


def test_the_forward_runs_a_block_in_slices_of_at_most_slice_rows(monkeypatch):
    """A forward block of more than SLICE_ROWS rows projects and runs its rows slice by slice
    (40 rows, two blocks of 20: slices of 16 and 4 rows each), into the gates buffer in
    training and into a one-step scratch of SLICE_ROWS rows per block in eval mode (scratch:
    its first row is the slice's); BPTT runs whole blocks; all equal the NumPy path."""
    assert kernels.SLICE_ROWS == 16
    monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: kernels.split_rows(N, 2))
    projected, backward = [], []
    functions = kernels.functions

    def recording_functions(step):
        f = functions(step)

        def forward_loop(flags, j, X, W_x_packed, XW, *args):
            projected.append((*args[-4:], XW.shape[:2]))  # r0, r1, slice_rows, scratch
            f.forward_loop(flags, j, X, W_x_packed, XW, *args)

        def backward_loop(*args):
            backward.append(args[-3:-1])
            f.backward_loop(*args)
        return f._replace(forward_loop=forward_loop, backward_loop=backward_loop)

    monkeypatch.setattr(kernels, "functions", recording_functions)
    layer = lstmkit.LSTM(3, 8, seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 40, 3)).astype(np.float32)
    dY = rng.normal(size=(4, 40, 8)).astype(np.float32)
    state = [rng.normal(size=(1, 40, 8)).astype(np.float32) for _ in range(2)]
    reference, fast, ran = both_paths(monkeypatch, layer, X, state, dY, state, {})
    assert ran == {"lstm_forward_blocks": 1, "lstm_backward_blocks": 1}
    assert sorted(projected) == [(0, 20, 16, False, (4, 40)), (20, 40, 16, False, (4, 40))]
    assert sorted(backward) == [(0, 20), (20, 40)]
    assert_close(fast, reference, np.float32)
    layer.eval()
    projected.clear()
    Y, final = layer(X, pack(state))
    assert sorted(projected) == [(0, 20, 16, True, (1, 16)), (20, 40, 16, True, (1, 16))]
    assert error(Y, reference["Y"]) < TOL[np.float32]
    for A, name in zip(final, ("state[0]", "state[1]"), strict=True):
        assert error(A, reference[name]) < TOL[np.float32]


SHARED = {"LSTM": lambda d, h, **kw: lstmkit.LSTM(d, h, **kw),
          "LSTM-coupled": lambda d, h, **kw: lstmkit.LSTM(d, h, coupled=True, **kw),
          "LSTM-no-bias": lambda d, h, **kw: lstmkit.LSTM(d, h, bias=False, **kw),
          "LSTM-peephole": lambda d, h, **kw: lstmkit.LSTM(d, h, peephole=True, **kw),
          "GRU": lambda d, h, **kw: lstmkit.GRU(d, h, **kw)}


@pytest.mark.parametrize("padding", ["full", "lengths"])
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("variant", SHARED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_row_blocks_share_the_weight_gradients_where_they_tile(dtype, variant, stack, padding,
                                                               monkeypatch):
    """Where dW_h is small and its columns whole outer tiles (H = 64), each of two row blocks
    of 3 rows computes its share of dW_x, dW_h and the biases' gradients after its BPTT loop,
    once per layer and direction, D = 7 rows of dW_x in a whole tile and 3 single rows; dX by
    NumPy after them (D = 7) or in the blocks too (the second layer's input, 2H = 128). The
    sums equal the NumPy path. The peephole LSTM leaves them to its weight_grads (its dP)."""
    monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: kernels.split_rows(N, 2))
    n, t, d, h = 6, 5, 7, 64
    layer = SHARED[variant](d, h, dtype=dtype, seed=0, **STACKS[stack])
    K = layer.num_layers * layer.num_directions
    assert kernels.blocks_share_weight_grads(h, layer.step.n_gates * h, dtype)
    assert not kernels.dx_in_blocks(d, dtype) and kernels.dx_in_blocks(2 * h, dtype)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(t, n, d)).astype(dtype)
    dY = rng.normal(size=(t, n, layer.num_directions * h)).astype(dtype)
    states = [rng.normal(size=(K, n, h)).astype(dtype)
              for _ in range(2 if isinstance(layer, lstmkit.LSTM) else 1)]
    lengths = {"full": {}, "lengths": {"lengths": np.array([t, 0, 3, t, 1, 2])}}[padding]
    reference, fast, ran = both_paths(monkeypatch, layer, X, states, dY, states, lengths)
    cell = type(layer.step).__name__[:-4].lower()
    shared = 0 if variant == "LSTM-peephole" else K
    assert ran.get(f"{cell}_weight_grads_blocks", 0) == shared, ran
    assert ran[f"{cell}_backward_blocks"] == K
    assert_close(fast, reference, dtype)


@pytest.mark.parametrize("variant", ["LSTM", "GRU"])
def test_shared_weight_gradients_under_truncation_and_a_left_mask(variant, monkeypatch):
    """The shares read whatever dZ truncated BPTT left, with padding before each sequence's
    first step, and still sum to the NumPy path's gradients (two bidirectional layers,
    float64, truncate=2)."""
    monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: kernels.split_rows(N, 2))
    n, t, d, h = 6, 7, 12, 64
    layer = SHARED[variant](d, h, dtype=np.float64, seed=0, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(t, n, d))
    dY = rng.normal(size=(t, n, 2 * h))
    states = [rng.normal(size=(4, n, h)) for _ in range(2 if variant == "LSTM" else 1)]
    mask = {"mask": np.arange(t)[None, :] >= np.array([0, 2, t - 1, 1, 0, 3])[:, None]}
    reference, fast, ran = both_paths(monkeypatch, layer, X, states, dY, states, mask,
                                      truncate=2)
    assert ran[f"{variant.lower()}_weight_grads_blocks"] == 4
    assert_close(fast, reference, np.float64)


@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("variant", ["LSTM", "LSTM-peephole", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_the_whole_loop_computes_small_weight_gradients_as_one_block(dtype, variant, n,
                                                                     monkeypatch):
    """The whole loop on one block of all rows (tiny's one row, or 5), H = 64, computes the
    weight gradients and dX in its outer tiles when they are small (one_block_shares), for
    two bidirectional layers with lengths, and equals the NumPy path; the peephole LSTM
    leaves them to its weight_grads."""
    monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: ((0, N),))
    t, d, h = 6, 7, 64
    layer = SHARED[variant](d, h, dtype=dtype, seed=0, num_layers=2, bidirectional=True)
    assert kernels.one_block_shares(t, n, 2 * h, h, layer.step.n_gates * h)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(t, n, d)).astype(dtype)
    dY = rng.normal(size=(t, n, 2 * h)).astype(dtype)
    states = [rng.normal(size=(4, n, h)).astype(dtype)
              for _ in range(2 if variant != "GRU" else 1)]
    lengths = {"lengths": np.array([t, 0, 3, 1, 2][:n])}
    reference, fast, ran = both_paths(monkeypatch, layer, X, states, dY, states, lengths)
    cell = type(layer.step).__name__[:-4].lower()
    assert ran[f"{cell}_backward_loop"] == 4
    assert ran.get(f"{cell}_weight_grads_blocks", 0) == (0 if variant == "LSTM-peephole" else 4)
    assert_close(fast, reference, dtype)


def test_one_block_shares_where_the_weight_gradients_are_small_or_blas_has_one_thread():
    """Up to ONE_BLOCK_SHARE_MAX_MACS multiply-adds (tiny's 5.1e6) at any thread count; above
    it (mnist's 2.8e8) only where NumPy's BLAS runs one thread."""
    tiny, mnist = (1000, 1, 8, 32, 128), (28, 64, 28, 128, 512)
    with threadpool_limits(2):
        assert kernels.one_block_shares(*tiny)
        assert not kernels.one_block_shares(*mnist)
    with threadpool_limits(1):
        assert kernels.one_block_shares(*mnist)


@pytest.mark.parametrize("H, GH, dtype, expected", [
    (128, 512, np.float32, True),  # mnist, LSTM: dW_h 256 KiB
    (128, 384, np.float32, True),  # mnist, GRU
    (128, 512, np.float64, True),  # 512 KiB
    (64, 256, np.float32, True),  # stock
    (256, 1024, np.float32, False),  # charlm: 1 MiB
    (512, 2048, np.float32, False),  # large: 4 MiB
    (50, 200, np.float32, False),  # G*H no whole tiles
])
def test_blocks_share_the_weight_gradients_only_where_they_tile_and_are_small(H, GH, dtype,
                                                                             expected):
    assert kernels.blocks_share_weight_grads(H, GH, dtype) == expected


@pytest.mark.parametrize("D, expected", [(28, True), (128, True), (1, False), (8, False),
                                         (65, False)])
def test_dx_in_blocks_only_where_d_fills_its_panels(D, expected):
    """mnist's 28 columns pad to 32 (dX in the blocks); stock's 1 and charlm's 65 would pad to
    32 and 96 (one NumPy GEMM after the blocks)."""
    assert kernels.dx_in_blocks(D, np.float32) == expected


def test_row_blocks_run_at_once_on_their_own_threads():
    """run_blocks runs the first block on the calling thread and the others on worker
    threads at the same time (each waits for the other), and raises a worker's error."""
    barrier = threading.Barrier(3, timeout=30)
    seen = {}

    def block(flags, j, r0, r1):
        seen[r0, r1] = (j, threading.get_ident())
        barrier.wait()

    blocks = kernels.split_rows(10, 3)
    assert blocks == ((0, 3), (3, 6), (6, 10))
    kernels.run_blocks(block, blocks, lambda r0, r1: (r0, r1))
    assert set(seen) == set(blocks) and len({ident for _, ident in seen.values()}) == 3
    assert seen[0, 3] == (0, threading.get_ident())
    assert [seen[b][0] for b in blocks] == [0, 1, 2]

    def failing(flags, j, r0, r1):
        if r0:
            raise ValueError(f"block {r0}-{r1} failed")

    with pytest.raises(ValueError, match="block 5-10 failed"):
        kernels.run_blocks(failing, kernels.split_rows(10, 2), lambda r0, r1: (r0, r1))


@numba.njit(nogil=True)
def _read_last_packed(flags, j, packed, out):
    """A compiled block as the kernels' loops are: waits for "go", reads the last item that
    packing writes, says it is done."""
    if kernels._block_starts(flags, j):
        out[j] = packed[-1, -1, -1]
        kernels._block_done(flags, j)


def test_worker_blocks_start_once_the_weights_are_packed():
    """run_blocks hands the workers their blocks before it packs the weights on the calling
    thread; a compiled block waits for "go" and reads the packed weights whole. The pack is
    large (16 MB, milliseconds) and its last item is written last: a worker that did not wait
    would read the NaN it held."""
    B = np.full((2000, 2000), 7.0)
    packed = kernels.packed_empty(B)
    out = np.zeros(3)
    for _ in range(3):
        packed[...] = np.nan
        out[:] = 0
        kernels.run_blocks(_read_last_packed, kernels.split_rows(30, 3),
                           lambda r0, r1: (packed, out), packs=[(B, packed)])
        assert out.tolist() == [7.0, 7.0, 7.0]


def test_a_failure_before_go_stops_the_workers_and_leaves_them_usable():
    """When packing fails on the calling thread, the workers' blocks stop without running
    (go = -1), the error is raised, and the next run_blocks runs on the same workers."""
    out = np.zeros(2)
    packed = np.full((1, 1, 1), 9.0)  # what a worker that ran anyway would copy to out
    with pytest.raises(numba.TypingError):
        kernels.run_blocks(_read_last_packed, kernels.split_rows(4, 2),
                           lambda r0, r1: (packed, out), packs=[(np.ones((2, 2)), None)])
    assert out.tolist() == [0.0, 0.0]
    packed[...] = 5
    kernels.run_blocks(_read_last_packed, kernels.split_rows(4, 2),
                       lambda r0, r1: (packed, out))
    assert out.tolist() == [5.0, 5.0]


def _blocks_in_child(queue):
    seen = []
    kernels.run_blocks(lambda flags, j, r0, r1: seen.append(threading.get_ident()),
                       kernels.split_rows(4, 2), lambda r0, r1: (r0, r1))
    queue.put(len(set(seen)))


def test_row_blocks_run_in_a_forked_child_after_the_parent_ran_them():
    """A child forked after the parent made its worker threads makes its own."""
    import multiprocessing

    kernels.run_blocks(lambda flags, j: None, kernels.split_rows(4, 2), lambda r0, r1: ())
    assert kernels._workers
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_blocks_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == 2
    child.join(60)
    assert child.exitcode == 0


@numba.njit(nogil=True)
def _late_worker_block(flags, j, out):
    """A compiled block whose worker ends well after the calling thread's block."""
    if kernels._block_starts(flags, j):
        for k in range(200_000 * j):
            out[j] += k % 3
        kernels._block_done(flags, j)


def test_workers_let_go_of_their_blocks_arguments():
    """When run_blocks returns, no worker holds a reference to its block's arguments: the
    workspace's buffers it read are free for the next call. The worker's compiled block says
    it is done while the calling thread spins, which then wins the GIL back first, 200
    times."""
    out = np.zeros(2)
    before = sys.getrefcount(out)
    for _ in range(200):
        kernels.run_blocks(_late_worker_block, kernels.split_rows(4, 2), lambda r0, r1: (out,))
        assert sys.getrefcount(out) == before


def test_training_steps_on_row_blocks_reuse_the_workspace(monkeypatch):
    """Repeated training steps on row blocks (mnist-sized, the weight gradients shared) take
    the same kept buffers each time: the workspace keeps no more after five steps than after
    one."""
    monkeypatch.setattr(kernels, "row_blocks", lambda N, H, n_gates: kernels.split_rows(N, 2))
    layer = lstmkit.LSTM(28, 128, seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(28, 64, 28)).astype(np.float32)
    dY = rng.normal(size=(28, 64, 128)).astype(np.float32)
    layer(X)
    layer.backward(dY)
    kept = kernels.workspace.kept_bytes()
    for _ in range(4):
        layer(X)
        layer.backward(dY)
    assert kernels.workspace.kept_bytes() == kept


def test_a_layer_on_another_thread_runs_row_blocks_and_leaves_blas_alone(monkeypatch):
    """Nothing on the fast path depends on the calling thread or changes BLAS's thread count:
    a layer called from a worker thread runs row blocks (stock-sized, 2 threads, OpenBLAS's
    workers sleeping soon) and gives the main thread's outputs."""
    workers_sleep_soon(monkeypatch)
    layer = lstmkit.LSTM(1, 64, seed=0)
    X = np.random.default_rng(0).normal(size=(5, 32, 1)).astype(np.float32)
    seen = {}

    def worker():
        before = dict(kernels.calls)
        seen["Y"] = layer(X)[0].copy()
        seen["ran"] = {k for k, n in kernels.calls.items() if n > before.get(k, 0)}

    with threadpool_limits(2):
        before = blas_counts()
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(60)
        assert blas_counts() == before
        Y_main = layer(X)[0]
    assert seen["ran"] == {"lstm_forward_blocks"}
    assert np.array_equal(seen["Y"], Y_main)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.GRU])
def test_one_input_feature_equals_numpy_path(Layer, path, monkeypatch):
    """D = 1 (a univariate series): the fast path's input projection is the outer product by
    broadcasting, NumPy's path a GEMM; both give the same outputs and gradients."""
    force_path(monkeypatch, path)
    layer = Layer(1, H, seed=0)
    rng = np.random.default_rng(5)
    X = rng.normal(0, 1, (T, N, 1)).astype(np.float32)
    n_state = 2 if Layer is lstmkit.LSTM else 1
    state0 = [rng.normal(0, 1, (1, N, H)).astype(np.float32) for _ in range(n_state)]
    dstate = [rng.normal(0, 1, (1, N, H)).astype(np.float32) for _ in range(n_state)]
    dY = rng.normal(0, 1, (T, N, H)).astype(np.float32)
    reference, fast, ran = both_paths(monkeypatch, layer, X, state0, dY, dstate, {})
    assert_close(fast, reference, np.float32)
    assert_compiled_and_ran(ran, layer, path)


def test_fast_tape_keeps_views_of_per_sequence_buffers():
    """The tape holds the cell's cache with every field stacked over time, as views of the
    buffers allocated once for the sequence: nothing per step, no copies."""
    step = LSTMStep(peephole=True)
    params = step.init_params(D, H, np.random.default_rng(0), np.float32)
    X = np.random.default_rng(1).normal(size=(T, N, D)).astype(np.float32)
    _, _, tape = sequence.unroll(step, params, X, step.initial_state(N, H, np.float32))
    buffers, cache = tape.fast, tape.caches
    assert buffers.gates.shape == (T, N, 4 * H) and buffers.H.shape == buffers.C.shape == (
        T + 1, N, H)
    for name in ("I", "F", "C_tilde", "O"):
        assert np.shares_memory(getattr(cache, name), buffers.gates), name
    for name, buffer in (("H_prev", buffers.H), ("C_prev", buffers.C), ("C", buffers.C)):
        assert getattr(cache, name).shape == (T, N, H)
        assert np.shares_memory(getattr(cache, name), buffer), name
    assert cache.A_C is None and cache.unclipped is None  # tanh(C) is recomputed in BPTT


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.GRU])
def test_array_allocations_do_not_grow_with_the_number_of_steps(Layer, path, monkeypatch):
    """No per-step arrays: a forward + backward allocates as many NumPy buffers for 10 steps
    as for 40 (tracemalloc's NumPy domain counts data buffers, not views)."""
    force_path(monkeypatch, path)
    layer = Layer(D, H)

    def allocations(steps):
        X = np.ones((steps, N, D), np.float32)
        dY = np.ones((steps, N, H), np.float32)
        layer(X)
        layer.backward(dY)  # compiled and warm
        tracemalloc.start()
        try:
            layer(X)
            layer.backward(dY)
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)])
        finally:
            tracemalloc.stop()
        return sum(stat.count for stat in snapshot.statistics("filename"))

    assert allocations(40) <= allocations(10)


# ---------------------------------------------------------------- import and compile cost


def test_importing_lstmkit_and_the_numpy_path_do_not_import_numba():
    code = ("import os, sys, numpy as np, lstmkit\n"
            "os.environ['LSTMKIT_NO_JIT'] = '1'\n"
            "m = lstmkit.LSTM(3, 4); m(np.zeros((2, 1, 3), np.float32)); m.backward("
            "np.zeros((2, 1, 4), np.float32))\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
