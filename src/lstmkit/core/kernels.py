"""Fast kernels for the sequence runner: the equations of core/lstm.py and core/gru.py,
compiled with numba. The only module of lstmkit that imports numba.

core/sequence.py imports this module on the first call that can use it (never when lstmkit
is imported), if `covers` says the cell is one of these kernels' (the LSTM with the default
activations, with or without peephole and coupled gates, no clip; the GRU with the default
activations in PyTorch's form (G3)) and LSTMKIT_NO_JIT is not 1. Each function is compiled
on its first call, for the dtype and variant at hand only, and cached on disk (cache=True),
so a later process loads it instead of compiling it.

One sequence (one layer, one direction) runs in one of three ways, chosen by `row_blocks` and
`whole_loop`:

- per step: a Python loop over t; each step one GEMM H_{t-1} W_h by NumPy (on all of its
  BLAS threads) and one fused kernel for all the elementwise math of the step;
- whole loop: the time loop itself compiled, each step's GEMM by lstmkit's own tile kernels
  on W_h packed once for the sequence (see "the step's GEMM" below), for small steps, where
  the Python work of a step would cost as much as its arithmetic and a second BLAS thread
  costs more than it brings, and for any step when NumPy's BLAS has one thread;
- row blocks: the whole loop on blocks of the batch's rows at once, one thread each, each
  step of the forward projecting its own rows of the input just before its GEMM (slice by
  slice of at most SLICE_ROWS rows), when NumPy's BLAS has several threads and OpenBLAS
  loaded with its idle workers told to sleep soon (OPENBLAS_THREAD_TIMEOUT at most 22, see
  QUICK_SLEEP_TIMEOUT).

All write into buffers taken once per sequence (from core.workspace, which keeps them from
call to call), never per step:

    gates (T, N, G*H)  X W_x, the input GEMM of all steps (the kernels add b); each step
                       overwrites its slot with its gates: I, F, C~, O (LSTM), R, Z, H~ (GRU)
    H     (T+1, N, H)  the hidden states in time order: H_0 first (the reverse direction:
                       last), so the state before step t is H[t] (reverse: H[t+1])
    C     (T+1, N, H)  the memory cells, laid out as H (LSTM)
    HW_n  (T, N, H)    H_{t-1} W_hn + b_hn, which (GB5) needs (GRU)

and the outputs Y are the view H[1:] (H[:T] in reverse), or a buffer of their own with masks.
In eval mode on row blocks nothing is kept for BPTT, and each step of a slice of rows
projects into a one-step scratch of the slice (rows, G*H) instead of gates.
BPTT reads these back, writes dZ (T, N, G*H) (the GRU also dHW, its hidden-side twin) and
carries the state gradient in three (N, H) arrays: dH_gemm (the last step's dZ W_h^T),
dH_carry (the rest of dH_{t-1}: the GRU's dH Z (GB3), and at masked rows the gradient passing
through) and dC. The cell's weight_grads then computes dW_x, dW_h and dX, one GEMM each; on
row blocks where these are small, each block computes its rows' share of them after its loop
instead, and so does the whole loop where they are small or BLAS has one thread (see "weight
gradients on row blocks" below).

Transcendentals: float64 uses libm's exp and tanh; float32 a rational approximation of tanh
(Eigen's generic_fast_tanh_float, error below 4e-7) that LLVM vectorises, and
sigma(x) = (1 + tanh(x / 2)) / 2.
"""

import ctypes
import functools
import itertools
import math
import os
import threading
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable

from lstmkit.core import workspace
from lstmkit.core.activations import Activation
from lstmkit.core.gru import GRUCache, GRUState, GRUStep
from lstmkit.core.lstm import LSTMCache, LSTMState, LSTMStep
from lstmkit.core.sequence import gate_blocks

# The whole time loop is compiled when a step's GEMM has at most this many multiply-adds
# (N * H * G*H), or whatever its size when NumPy's BLAS runs on one thread: its GEMMs then run
# on the calling thread, by the tile kernels on the packed weights (pack_columns), with no
# Python work between steps. Larger steps loop in Python around NumPy's GEMM on all of BLAS's
# threads, unless row blocks run them (row_blocks): measured at 2 threads, OpenBLAS's default
# timeout, the whole loop against that per-step path takes 0.8-1.1x the time on stock
# (2^19), 1.1-1.2x on mnist (2^22), 1.0-1.25x on charlm (2^23) and 1.2-1.5x on large.
WHOLE_LOOP_MAX_MACS = 2**19

# error_model="numpy": a float division never raises (the check is a branch that stops LLVM
# from vectorising a loop); contract: a * b + c may become one fused multiply-add; nogil: row
# blocks run on several threads at once.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

calls = {}  # "lstm_forward_loop", ...: how often the runner called each kind (tests read it)


def _count(name):
    calls[name] = calls.get(name, 0) + 1


# ---------------------------------------------------------------- scalar activations

_TANH_CLAMP = np.float32(7.90531110763549805)
_TANH_P = tuple(np.float32(a) for a in (  # numerator, odd powers 1 .. 13
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_TANH_Q = tuple(np.float32(b) for b in (  # denominator, even powers 0 .. 6
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))
_HALF32 = np.float32(0.5)


def _tanh(x):
    """tanh(x) inside compiled code (see the overload below)."""
    return np.tanh(x)


def _sigmoid(x):
    """1 / (1 + e^-x) inside compiled code (see the overload below)."""
    return 1 / (1 + np.exp(-x))


@overload(_tanh)
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        p1, p3, p5, p7, p9, p11, p13 = _TANH_P
        q0, q2, q4, q6 = _TANH_Q
        c = _TANH_CLAMP

        def tanh32(x):  # odd / even polynomial on [-c, c]; tanh rounds to +-1 beyond
            x = max(min(x, c), -c)
            x2 = x * x
            p = ((((((p13 * x2 + p11) * x2 + p9) * x2 + p7) * x2 + p5) * x2 + p3) * x2 + p1) * x
            q = ((q6 * x2 + q4) * x2 + q2) * x2 + q0
            return p / q

        return tanh32
    return lambda x: math.tanh(x)


@overload(_sigmoid)
def _sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        half = _HALF32
        return lambda x: half * _tanh(half * x) + half

    def sigmoid64(x):  # as activations.sigmoid: e^{-|x|} never overflows
        e = math.exp(-abs(x))
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)

    return sigmoid64


# ---------------------------------------------------------------- the step's GEMM

# Every step multiplies a few rows (H_{t-1}, or dZ_t in BPTT) by the same weight matrix. A
# BLAS call repacks that matrix into its kernel's layout on every step, which for a few rows
# costs as much as the multiply-adds; here it is packed once per sequence (pack_columns), and
# the compiled loops multiply by the packed matrix with the tile kernels below. One thread
# (AMD EPYC znver4, float32): 16 x 256 x 1024 (charlm's row block) 75 us against OpenBLAS's
# 178, 32 x 128 x 512 (mnist's) 37 against 51; a single row, 1 x 32 x 128 (tiny's), 0.12-0.14
# us in a compiled loop, as numba's np.dot (a BLAS GEMV) takes.
#
# B (K, N) is packed into panels of panel_width columns, (P, K, width), the last zero-padded.
# A tile kernel computes TILE_ROWS rows of A times one panel (or one row times ROW_PANELS
# panels, or one by one), its accumulators, 8 SIMD vectors, kept in registers over the whole
# of K: per k, one vector load per 2 accumulators of a row, and one broadcast of A per row.
_TARGET_FEATURES = (numba.config.CPU_FEATURES if numba.config.CPU_FEATURES is not None
                    else llvm.get_host_cpu_features().flatten())  # what numba compiles for
_VECTOR_BYTES = 64 if "+avx512f" in _TARGET_FEATURES.split(",") else 32
_PANEL_VECTORS = 2
TILE_ROWS = 4


def panel_width(dtype):
    """Columns per panel of a packed matrix: two SIMD vectors of dtype."""
    return _PANEL_VECTORS * _VECTOR_BYTES // np.dtype(dtype).itemsize


def packed_empty(B):
    """An array for B (K, N) packed by pack_columns, not yet filled."""
    K, N = B.shape
    w = panel_width(B.dtype)
    return np.empty((-(-N // w), K, w), B.dtype)


def pack_columns(B, packed):
    """Fill packed (packed_empty(B)) with B (K, N) as panels (ceil(N / w), K, w) of
    w = panel_width columns, C-contiguous, the last panel's missing columns 0: what
    _packed_matmul multiplies by. B may be a transposed view (W_h^T for BPTT). Returns packed."""
    _pack(B, packed, B.strides[0] < B.strides[1])
    return packed


@_jit
def _pack(B, packed, by_column):
    """packed[p, k, j] = B[k, p*w + j], 0 beyond B's last column. by_column: B's columns are
    contiguous (a transposed view), read one column at a time (NumPy's strided copy of a
    transposed W_h took 2.5-3x longer: 121 against 44 us for mnist, 2.0 against 0.7 ms for
    large)."""
    K, N = B.shape
    P, _, w = packed.shape
    if by_column:
        for c in range(P * w):
            p, j = divmod(c, w)
            for k in range(K):
                packed[p, k, j] = B[k, c] if c < N else 0
    else:
        for p in range(P):
            for k in range(K):
                for j in range(w):
                    c = p * w + j
                    packed[p, k, j] = B[k, c] if c < N else 0


def _simd(context, builder, dtype):
    """For LLVM IR of a tile kernel: the SIMD vector type of the float dtype, its lanes, the
    fused multiply-add intrinsic on it, and splat(x): the scalar x in every lane."""
    i32 = ir.IntType(32)
    lanes = _VECTOR_BYTES // (dtype.bitwidth // 8)
    vector = ir.VectorType(context.get_value_type(dtype), lanes)
    fmuladd = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [vector] * 3),
        f"llvm.fmuladd.v{lanes}f{dtype.bitwidth}")
    undef = ir.Constant(vector, ir.Undefined)
    zeros = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)

    def splat(x):
        return builder.shuffle_vector(builder.insert_element(undef, x, ir.Constant(i32, 0)),
                                      undef, zeros)

    return vector, lanes, fmuladd, splat


def _tile_kernel(rows, panels):
    """The intrinsic tile(A, B_packed, C, m0, p): C[m0:m0+rows, p*w:(p+panels)*w] =
    A[m0:m0+rows] times panels p to p+panels-1 (w = panel_width), columns beyond C's last left
    alone. A (M, K), C (M, N) C-contiguous, one float dtype."""

    @intrinsic
    def tile(typingctx, A, B_packed, C, m0, p):
        arrays = (A, B_packed, C)
        if not (all(isinstance(a, types.Array) and a.layout == "C" for a in arrays)
                and (A.ndim, B_packed.ndim, C.ndim) == (2, 3, 2)
                and A.dtype == B_packed.dtype == C.dtype and isinstance(A.dtype, types.Float)):
            return None

        def codegen(context, builder, signature, args):
            i32, i64 = ir.IntType(32), ir.IntType(64)
            itemsize = A.dtype.bitwidth // 8
            vector, lanes, fmuladd, splat = _simd(context, builder, A.dtype)
            width = _PANEL_VECTORS * lanes
            a, b, c = (context.make_array(t)(context, builder, v)
                       for t, v in zip(signature.args[:3], args[:3], strict=True))
            K, N = builder.extract_value(a.shape, 1), builder.extract_value(c.shape, 1)
            m0 = context.cast(builder, args[3], signature.args[3], types.int64)
            col0 = builder.mul(context.cast(builder, args[4], signature.args[4], types.int64),
                               ir.Constant(i64, width))
            const = lambda v: ir.Constant(i64, v)  # noqa: E731
            # vector u of a row: columns col0 + u*lanes ..., panel p + u // 2, in it v = u % 2
            across = range(panels * _PANEL_VECTORS)
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(vector, [0.0] * lanes))
                    for _ in across] for _ in range(rows)]
            a_rows = [builder.mul(builder.add(m0, const(r)), K) for r in range(rows)]
            first = builder.mul(col0, K)  # panel p starts at p * K * width
            panel_at = [builder.add(first, builder.mul(K, const(q * width)))
                        for q in range(panels)]
            with cgutils.for_range(builder, K) as loop:
                k = builder.mul(loop.index, const(width))
                bv = [builder.load(builder.bitcast(builder.gep(b.data, [builder.add(
                    builder.add(panel_at[u // _PANEL_VECTORS], k),
                    const(u % _PANEL_VECTORS * lanes))]), vector.as_pointer()), align=itemsize)
                      for u in across]
                for r in range(rows):
                    x = splat(builder.load(builder.gep(a.data, [builder.add(a_rows[r],
                                                                            loop.index)])))
                    for u in across:
                        builder.store(builder.call(fmuladd, [x, bv[u], builder.load(acc[r][u])]),
                                      acc[r][u])
            values = [[builder.load(acc[r][u]) for u in across] for r in range(rows)]
            starts = [builder.add(builder.mul(builder.add(m0, const(r)), N), col0)
                      for r in range(rows)]
            full = builder.icmp_signed("<=", builder.add(col0, const(panels * width)), N)
            with builder.if_else(full, likely=True) as (whole, partial):
                with whole:
                    for r, u in itertools.product(range(rows), across):
                        at = builder.gep(c.data, [builder.add(starts[r], const(u * lanes))])
                        builder.store(values[r][u], builder.bitcast(at, vector.as_pointer()),
                                      align=itemsize)
                with partial:  # the last panel: its columns below N only
                    for r, u, lane in itertools.product(range(rows), across, range(lanes)):
                        j = const(u * lanes + lane)
                        with builder.if_then(builder.icmp_signed("<", builder.add(col0, j), N)):
                            builder.store(builder.extract_element(values[r][u],
                                                                  ir.Constant(i32, lane)),
                                          builder.gep(c.data, [builder.add(starts[r], j)]))
            return context.get_dummy_value()

        return types.void(A, B_packed, C, m0, p), codegen

    return tile


# A tile holds 8 vectors of accumulators: TILE_ROWS rows by one panel, or one row by
# ROW_PANELS panels (a single row, as tiny's N = 1, needs the 8 independent chains of fused
# multiply-adds as much: with 2 its time is their latency, 2x longer), or one row by one.
ROW_PANELS = 4
_tile_rows = _tile_kernel(TILE_ROWS, 1)
_tile_row_panels, _tile_row = _tile_kernel(1, ROW_PANELS), _tile_kernel(1, 1)


@register_jitable
def _packed_matmul(A, B_packed, out):
    """out = A B inside compiled code, B packed by pack_columns."""
    M, P = A.shape[0], B_packed.shape[0]
    whole = M - M % TILE_ROWS
    for p in range(P):
        for m0 in range(0, whole, TILE_ROWS):
            _tile_rows(A, B_packed, out, m0, p)
    grouped = P - P % ROW_PANELS
    for m0 in range(whole, M):
        for p in range(0, grouped, ROW_PANELS):
            _tile_row_panels(A, B_packed, out, m0, p)
        for p in range(grouped, P):
            _tile_row(A, B_packed, out, m0, p)


def _times_transposed(dZ_t, W_h, out, scratch):
    """out = dZ_t W_h^T, (B10) or (GB8), computed as (W_h dZ_t^T)^T into scratch (H, N):
    OpenBLAS multiplies by W_h as stored faster than by its transposed view (one step, 2
    threads: mnist 99 -> 76 us, charlm 210 -> 129 us, large 2.06 -> 1.62 ms; 1 thread 7-34%)."""
    np.matmul(W_h, dZ_t.T, out=scratch)
    out[...] = scratch.T


# ---------------------------------------------------------------- weight gradients on row blocks

# On row blocks, where the weight gradients are small (blocks_share_weight_grads), each block
# computes its own rows' share of dW_x, dW_h and the biases' gradients after its BPTT loop, a
# sum over all steps, and its rows of dX (dx_in_blocks); the shares are added at the end. No
# BLAS call on several threads then (OpenBLAS runs such skinny products slowly: mnist's dW_x,
# 28 x 512 over K = 1792, and dX at 55-65 GFLOP/s on both threads together), and each block
# reads back the dZ its own core wrote. An outer tile keeps OUTER_ROWS x OUTER_VECTORS SIMD
# vectors of C in registers over its K, the block's rows of as many steps as make OUTER_K
# rows (per k: OUTER_VECTORS vector loads of B, one broadcast of A per row); those steps' rows
# of dZ then serve dW_x, dW_h, db and dX while in cache. Measured alone, one block of mnist's
# dW_h (128 x 512, K = 28 steps x 32 rows): 87-92 GFLOP/s with 4 x 4 vectors and K = 64 at a
# time; 77-84 with 4 x 2, 8 x 2, 6 x 4 vectors; 48-79 with all of K at once.
# In a training step, interleaved with torch, 2 threads, against the cell's GEMMs after the
# blocks: mnist 5-9% faster, the GRU's 0-3%; stock (its dX by NumPy) 3-6%; (64, 28, 64, 192)
# 2-3%, (128, 28, 32, 128) 6-9%; but even at (64, 28, 64, 256), whose dW_h (1 MiB) fills a
# core's L2, and 3-8% slower on charlm, 4-15% on large, where OpenBLAS runs at the tiles'
# rate on each thread.
OUTER_ROWS, OUTER_VECTORS, OUTER_K = 4, 4, 64
SHARE_BELOW_BYTES = 2**20  # a block's dW_h below this size (a core's L2 here)
# The whole loop (one block of all rows, on the calling thread) takes the same path where
# BLAS runs one thread, or where the weight gradients are small (one_block_shares). Measured
# interleaved with torch, against the cell's GEMMs after the loop: 1 thread, mnist's LSTM
# 9-10% faster, its GRU 4%, stock's LSTM 2-6%; 2 threads, tiny's LSTM -1 to 6%, its GRU
# 11-23% (5.1e6 multiply-adds); but (N, T, D, H) = (8, 200, 16, 64) 1-4% slower (3.3e7),
# (2, 400, 64, 128) 6-10% (7.9e7) and (4, 500, 32, 128) -6 to 3% (1.6e8), where NumPy's
# GEMMs run on both threads.
ONE_BLOCK_SHARE_MAX_MACS = 2**23


@register_jitable
def outer_columns(itemsize):
    """Columns of C in one outer tile, for floats of itemsize bytes."""
    return OUTER_VECTORS * _VECTOR_BYTES // itemsize


def blocks_share_weight_grads(H, GH, dtype):
    """True when the row blocks compute the weight gradients (above): where dW_h (H, G*H)
    takes less than SHARE_BELOW_BYTES and its G*H columns are whole outer tiles."""
    itemsize = np.dtype(dtype).itemsize
    return GH % outer_columns(itemsize) == 0 and H * GH * itemsize < SHARE_BELOW_BYTES


def one_block_shares(T, N, D, H, GH):
    """True when the whole loop on one block of all N rows computes the weight gradients as
    row blocks do (where blocks_share_weight_grads): when NumPy's BLAS runs one thread, or
    when they are at most ONE_BLOCK_SHARE_MAX_MACS multiply-adds, where NumPy's calls cost
    more than their arithmetic."""
    return T * N * (D + H) * GH <= ONE_BLOCK_SHARE_MAX_MACS or _blas_one_thread()


def _outer_tile_kernel(rows, vectors):
    """The intrinsic tile(A, B, C, m0, c0): C[m0:m0+rows, c0:c0+vectors*lanes] += the sum over
    s, r of A[s, r, m0:m0+rows]^T B[s, r, c0:c0+vectors*lanes]. A (S, R, M) and B (S, R, N):
    any strides, but the last axis contiguous; C (M, N') C-contiguous; one float dtype; the
    caller keeps the tile inside A, B and C."""

    @intrinsic
    def tile(typingctx, A, B, C, m0, c0):
        if not (all(isinstance(a, types.Array) for a in (A, B, C))
                and (A.ndim, B.ndim, C.ndim) == (3, 3, 2) and C.layout == "C"
                and A.dtype == B.dtype == C.dtype and isinstance(A.dtype, types.Float)):
            return None

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            itemsize = A.dtype.bitwidth // 8
            vector, lanes, fmuladd, splat = _simd(context, builder, A.dtype)
            const = lambda v: ir.Constant(i64, v)  # noqa: E731
            a, b, c = (context.make_array(t)(context, builder, v)
                       for t, v in zip(signature.args[:3], args[:3], strict=True))
            S, R = builder.extract_value(a.shape, 0), builder.extract_value(a.shape, 1)
            stride = lambda x, d: builder.sdiv(  # noqa: E731  in elements
                builder.extract_value(x.strides, d), const(itemsize))
            m0 = context.cast(builder, args[3], signature.args[3], types.int64)
            c0 = context.cast(builder, args[4], signature.args[4], types.int64)
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(vector, [0.0] * lanes))
                    for _ in range(vectors)] for _ in range(rows)]
            with cgutils.for_range(builder, S) as step:
                a_step = builder.add(builder.mul(step.index, stride(a, 0)), m0)
                b_step = builder.add(builder.mul(step.index, stride(b, 0)), c0)
                with cgutils.for_range(builder, R) as row:
                    a_at = builder.add(a_step, builder.mul(row.index, stride(a, 1)))
                    b_at = builder.add(b_step, builder.mul(row.index, stride(b, 1)))
                    bv = [builder.load(builder.bitcast(
                        builder.gep(b.data, [builder.add(b_at, const(u * lanes))]),
                        vector.as_pointer()), align=itemsize) for u in range(vectors)]
                    for r in range(rows):
                        x = splat(builder.load(builder.gep(a.data, [builder.add(a_at,
                                                                                const(r))])))
                        for u in range(vectors):
                            builder.store(builder.call(fmuladd, [x, bv[u],
                                                                 builder.load(acc[r][u])]),
                                          acc[r][u])
            N = builder.extract_value(c.shape, 1)
            for r, u in itertools.product(range(rows), range(vectors)):
                at = builder.bitcast(builder.gep(c.data, [builder.add(
                    builder.mul(builder.add(m0, const(r)), N), builder.add(c0, const(u * lanes)))]),
                    vector.as_pointer())
                builder.store(builder.fadd(builder.load(at, align=itemsize),
                                           builder.load(acc[r][u])), at, align=itemsize)
            return context.get_dummy_value()

        return types.void(A, B, C, m0, c0), codegen

    return tile


_outer_tile, _outer_row = (_outer_tile_kernel(OUTER_ROWS, OUTER_VECTORS),
                           _outer_tile_kernel(1, OUTER_VECTORS))


@register_jitable
def _add_outer(A, B, C):
    """C += the sum over s of A[s]^T B[s], inside compiled code, in outer tiles (rows beyond
    the last whole one a row at a time): A (S, R, M), B (S, R, N) with their last axes
    contiguous, C (M, N), N whole tiles."""
    M, N = C.shape
    w = outer_columns(C.itemsize)
    whole = M - M % OUTER_ROWS
    for c0 in range(0, N, w):
        for m0 in range(0, whole, OUTER_ROWS):
            _outer_tile(A, B, C, m0, c0)
        for m in range(whole, M):
            _outer_row(A, B, C, m, c0)


@_jit
def _block_weight_grads(X, H_prev, dXW, dHW, W_xT_packed, dX, dW_x, dW_h, db_x, db_h, r0, r1,
                        one_bias):
    """Rows r0:r1's share of (B11)-(B12), (B14) or (GB9): dW_x = X^T dXW, dW_h = H_prev^T dHW,
    db_x and db_h the sums of dXW and dHW over steps and rows (db_h left alone when one_bias:
    dHW is dXW, the LSTM's one bias), written (not added) into the block's own arrays; and
    dX = dXW W_x^T at its rows unless W_xT_packed (W_x^T packed) is None. X (T, N, D),
    H_prev (T, N, H), dXW and dHW (T, N, G*H), their last axes contiguous, G*H whole tiles
    (blocks_share_weight_grads). One pass over the steps, as many at a time as make OUTER_K
    rows: their rows of dXW and dHW serve all five while in cache."""
    dW_x[:] = 0
    dW_h[:] = 0
    db_x[:] = 0
    db_h[:] = 0
    T = X.shape[0]
    steps = max(OUTER_K // (r1 - r0), 1)
    for s0 in range(0, T, steps):
        s1 = min(s0 + steps, T)
        dZ_x, dZ_h = dXW[s0:s1, r0:r1], dHW[s0:s1, r0:r1]
        _add_outer(X[s0:s1, r0:r1], dZ_x, dW_x)
        _add_outer(H_prev[s0:s1, r0:r1], dZ_h, dW_h)
        for t in range(s0, s1):
            if W_xT_packed is not None:
                _packed_matmul(dXW[t][r0:r1], W_xT_packed, dX[t][r0:r1])
            for r in range(r0, r1):
                db_x += dXW[t, r]
                if not one_bias:
                    db_h += dHW[t, r]


@_jit
def _sum_shares(dW_x, dW_h, db, out_x, out_h, out_b):
    """out_x, out_h, out_b = the blocks' shares dW_x, dW_h, db (k, ...) summed over blocks:
    one compiled call (NumPy's three sums over axis 0 and their new arrays took 0.11-0.15 ms of
    mnist's training step, on caches the step had moved on from)."""
    _sum_over_blocks(dW_x, out_x)
    _sum_over_blocks(dW_h, out_h)
    _sum_over_blocks(db, out_b)


@register_jitable
def _sum_over_blocks(shares, out):
    for r in range(out.shape[0]):
        o = out[r]
        o[:] = shares[0, r]
        for k in range(1, shares.shape[0]):
            o += shares[k, r]


@functools.cache
def _numpy_blas():
    """threadpoolctl's handle on the BLAS library NumPy itself links, or None."""
    from threadpoolctl import ThreadpoolController

    numpy_dir = Path(np.__file__).resolve().parent
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        path = Path(lib.filepath).resolve()
        if path.is_relative_to(numpy_dir) or path.parent.name.startswith("numpy"):
            return lib  # numpy.libs/ (Linux, Windows) or numpy/.dylibs/ (macOS)
    return None


def _blas_one_thread():
    """True when NumPy's BLAS runs one thread now."""
    lib = _numpy_blas()
    return lib is not None and lib.num_threads == 1


@register_jitable
def chunk_starts(t, k, reverse):
    """True when BPTT, visiting t downwards (upwards when reverse), enters a new chunk of k
    steps at step t: truncated BPTT cuts the state gradient there."""
    return (t - 1) // k != t // k if reverse else (t + 1) // k != t // k


@register_jitable
def _states_around(t, reverse):
    """The indices in H (and C) of the states before and after step t: t and t + 1, in
    reverse t + 1 and t (H_0 first, see the buffers above)."""
    return (t + 1, t) if reverse else (t, t + 1)


@register_jitable
def _slice_of(HW, r0, r1, s0, slice_rows, scratch):
    """The slice of a forward block (r0, r1) that starts at row s0: its end s1, the batch row
    x0 that its slot of the gates holds first (_step_slot: s0 in eval mode's scratch, else
    0), and its rows of the block's HW."""
    s1 = min(s0 + slice_rows, r1)
    return s1, (s0 if scratch else 0), HW[s0 - r0:s1 - r0]


# ---------------------------------------------------------------- the hand-off of row blocks

# Row blocks (row_blocks, below) run one block on the calling thread and the others on worker
# threads, each a single compiled call from its start to its end. They meet through a flags
# array of int64, written and read with atomic stores and loads: flags[0] is "go" (1: run,
# -1: stop), flags[j] says that block j is done. A worker's block, handed over before the
# calling thread packs the weights, spins on "go" while they are packed: its thread wakes
# (tens of us on the 2-core test machine, a virtual machine whose idle cores halt) while the
# weights are packed, not after. The calling thread, its own block done, spins on each worker's
# "done" for up to SPIN_ROUNDS rounds, then joins the worker (sleeping on its lock if it must:
# a sleeping thread there also takes tens of us to wake); by then the worker has most often
# returned and let go of the block's arguments, and the join does not sleep. Not joining a
# worker that said "done" measured the same (-1.1 to +1.1%), but that worker held the block's
# buffers until it next had the GIL, and the workspace took new ones meanwhile. Both spins
# are short: the packing (0.1 ms for mnist), and the few us by which the blocks' ends differ.
# In a timeline of mnist's LSTM training step the worker now starts within 1 us of "go" and
# ends within 4-10 us of the calling thread, where it started 58 us after the hand-over and
# the calling thread had its result 60-74 us after it ended (a ThreadPoolExecutor's future,
# the blocks handed over after packing). Measured in one process interleaved with torch, 2
# threads, rounds of 21, against that: mnist's LSTM training step 0.7 / 7.9 / 2.9 / 3.6%
# faster, its forward 10.3 / 2.3%, stock's training -1.8 / 3.4%, charlm's 4.4 / 3.4%.


@intrinsic
def _atomic_load(typingctx, flags, i):
    """flags[i] of an int64 array, an atomic load with acquire order: what another thread
    stored before its release store of it is visible after."""
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.load_atomic(builder.gep(array.data, [index]), "acquire", 8)

    return types.int64(flags, i), codegen


@intrinsic
def _atomic_store(typingctx, flags, i, value):
    """flags[i] = value, an atomic store with release order (see _atomic_load)."""
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.int64)
        item = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(item, builder.gep(array.data, [index]), "release", 8)
        return context.get_dummy_value()

    return types.void(flags, i, value), codegen


_X86 = llvm.get_process_triple().startswith(("x86_64", "i386", "i686"))  # what numba targets


@intrinsic
def _spin_pause(typingctx):
    """x86's pause between two reads of a flag (25 ns here): the spinning core yields to its
    sibling and does not flood the memory system; elsewhere nothing."""

    def codegen(context, builder, signature, args):
        if _X86:
            pause = builder.module.declare_intrinsic(
                "llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


SPIN_ROUNDS = 2**14  # about 0.4 ms of spinning at 25 ns a round


@register_jitable
def _spin_until_set(flags, i, rounds):
    """True once flags[i] is not 0, False if it is still 0 after `rounds` rounds."""
    for _ in range(rounds):
        if _atomic_load(flags, i) != 0:
            return True
        _spin_pause()
    return _atomic_load(flags, i) != 0


@register_jitable
def _block_starts(flags, j):
    """At the start of block j: the calling thread's (j = 0) runs at once; a worker's waits
    for "go" and runs if it is 1 (-1: the calling thread failed before it; stop)."""
    if j == 0:
        return True
    while not _spin_until_set(flags, 0, SPIN_ROUNDS):
        pass
    return _atomic_load(flags, 0) > 0


@register_jitable
def _block_done(flags, j):
    """At the end of block j: a worker's says it is done."""
    if j > 0:
        _atomic_store(flags, j, 1)


@_jit
def _set_flag(flags, i, value):
    _atomic_store(flags, i, value)


@_jit
def _wait_flag(flags, i, rounds):
    """_spin_until_set without the GIL, for the calling thread."""
    return _spin_until_set(flags, i, rounds)


# ---------------------------------------------------------------- LSTM


@_jit
def _lstm_forward_rows(Z, b, HW, H_prev, C_prev, H, C, P, valid_t, Y_t, masked, peephole,
                       coupled):
    """Equations (1)-(6) for one step, all rows. Z (N, 4H): X_t W_x on entry, the gates
    I, F, C~, O on exit; b (4H,); HW (N, 4H) = H_{t-1} W_h. Writes H, C (N, H), and Y_t when
    masked (H at valid rows, 0 elsewhere). P (3, H): the peepholes, read only if peephole.

    The inner loops run over 1-D views, one row and gate block each, which LLVM vectorises;
    peephole and coupled are compile-time constants, so each variant's loop has no branch.
    """
    numba.literally(peephole)
    numba.literally(coupled)
    N, Hn = H.shape
    one = Z.dtype.type(1)
    b_i, b_f, b_g, b_o = b[:Hn], b[Hn:2 * Hn], b[2 * Hn:3 * Hn], b[3 * Hn:]
    for n in range(N):
        if masked and not valid_t[n]:  # the state passes unchanged, the output is 0
            H[n] = H_prev[n]
            C[n] = C_prev[n]
            Y_t[n] = 0
            continue
        z_i, z_f, z_g, z_o = Z[n, :Hn], Z[n, Hn:2 * Hn], Z[n, 2 * Hn:3 * Hn], Z[n, 3 * Hn:]
        hw_i, hw_f, hw_g, hw_o = HW[n, :Hn], HW[n, Hn:2 * Hn], HW[n, 2 * Hn:3 * Hn], HW[n, 3 * Hn:]
        c_prev, c_new, h_new = C_prev[n], C[n], H[n]
        for j in range(Hn):
            Z_i = (z_i[j] + b_i[j]) + hw_i[j]
            Z_f = (z_f[j] + b_f[j]) + hw_f[j]
            Z_o = (z_o[j] + b_o[j]) + hw_o[j]
            if peephole:
                Z_i += P[0, j] * c_prev[j]
                Z_f += P[1, j] * c_prev[j]
            I = _sigmoid(Z_i)  # (1)
            F = one - I if coupled else _sigmoid(Z_f)  # (2)
            C_tilde = _tanh((z_g[j] + b_g[j]) + hw_g[j])  # (4)
            c = F * c_prev[j] + I * C_tilde  # (5)
            if peephole:
                Z_o += P[2, j] * c
            O = _sigmoid(Z_o)  # (3)
            z_i[j], z_f[j], z_g[j], z_o[j] = I, F, C_tilde, O
            c_new[j] = c
            h_new[j] = O * _tanh(c)  # (6)
        if masked:
            Y_t[n] = h_new


@_jit
def _lstm_backward_rows(G, C_prev, C, dH_gemm, dH_carry, dY_t, dC, dZ, P, valid_t, masked,
                        peephole, coupled):
    """(B1)-(B9), (B3p), (B7p) for one step, all rows. G (N, 4H) the gates I, F, C~, O. The
    gradient reaching H_t is dH_gemm + dH_carry + dY_t; dC holds dC_t on entry and dC_{t-1}
    on exit. Writes dZ (N, 4H) and dH_carry: the part of dH_{t-1} that is not dZ W_h^T (the
    gradient passing a masked row; 0 elsewhere)."""
    numba.literally(peephole)
    numba.literally(coupled)
    N, Hn = C.shape
    one, zero = G.dtype.type(1), G.dtype.type(0)
    for n in range(N):
        if masked and not valid_t[n]:  # no gradient to Z; the state gradient passes (dC too)
            dH_carry[n] += dH_gemm[n]
            dZ[n] = 0
            continue
        g_i, g_f, g_g, g_o = G[n, :Hn], G[n, Hn:2 * Hn], G[n, 2 * Hn:3 * Hn], G[n, 3 * Hn:]
        dz_i, dz_f, dz_g, dz_o = dZ[n, :Hn], dZ[n, Hn:2 * Hn], dZ[n, 2 * Hn:3 * Hn], dZ[n, 3 * Hn:]
        c_prev, c_new, dc_io = C_prev[n], C[n], dC[n]
        dh_gemm, dh_carry, dy = dH_gemm[n], dH_carry[n], dY_t[n]
        for j in range(Hn):
            dH = dh_gemm[j] + dh_carry[j] + dy[j]
            I, F, C_tilde, O = g_i[j], g_f[j], g_g[j], g_o[j]
            A_C = _tanh(c_new[j])  # tanh(C_t), recomputed rather than kept
            dO = dH * A_C  # (B1)
            dc = dc_io[j] + dH * O * (one - A_C * A_C)  # (B2)
            dZ_o = dO * (O * (one - O))  # (B3)
            if peephole:
                dc += dZ_o * P[2, j]  # (B3p)
            dF = dc * c_prev[j]  # (B4)
            dI = dc * C_tilde  # (B5)
            dC_tilde = dc * I  # (B6)
            dc_prev = dc * F  # (B7)
            if coupled:
                dZ_i = (dI - dF) * (I * (one - I))  # (B8c)
                dZ_f = zero
            else:
                dZ_i = dI * (I * (one - I))  # (B8)
                dZ_f = dF * (F * (one - F))  # (B8)
            dZ_g = dC_tilde * (one - C_tilde * C_tilde)  # (B9)
            if peephole:
                dc_prev += dZ_i * P[0, j] + dZ_f * P[1, j]  # (B7p)
            dz_i[j], dz_f[j], dz_g[j], dz_o[j] = dZ_i, dZ_f, dZ_g, dZ_o
            dc_io[j] = dc_prev
            dh_carry[j] = zero


class Functions(NamedTuple):
    """The compiled entry points of one cell variant (the runner calls them)."""

    forward_step: object  # (..., t, ...): step t, after the caller's GEMM H_{t-1} W_h
    backward_step: object  # step t of BPTT, before the caller's GEMM dZ_t W_h^T
    forward_loop: object  # the whole forward loop, its GEMMs on the packed W_h inside
    backward_loop: object  # the whole BPTT loop, its GEMMs on the packed W_h^T inside


@functools.cache
def lstm_functions(peephole, coupled):
    """The LSTM's entry points with peephole and coupled fixed at compile time (closures:
    each variant compiles, and is cached, on its own first call)."""

    @_jit
    def forward_step(XW, b, HW, Hs, Cs, P, valid, Y, t, masked, reverse):
        p, n = _states_around(t, reverse)
        _lstm_forward_rows(XW[t], b, HW, Hs[p], Cs[p], Hs[n], Cs[n], P, valid[t], Y[t], masked,
                           peephole, coupled)

    @_jit
    def backward_step(G, Cs, dY, dZ, dH_gemm, dH_carry, dC, P, valid, t, masked, reverse):
        p, n = _states_around(t, reverse)
        _lstm_backward_rows(G[t], Cs[p], Cs[n], dH_gemm, dH_carry, dY[t], dC, dZ[t], P,
                            valid[t], masked, peephole, coupled)

    @_jit
    def forward_loop(flags, j, X, W_x_packed, XW, b, W_h_packed, Hs, Cs, P, valid, Y, HW,
                     masked, reverse, r0, r1, slice_rows, scratch):
        if not _block_starts(flags, j):
            return
        T = X.shape[0]
        for s0 in range(r0, r1, slice_rows):
            s1, x0, HW_s = _slice_of(HW, r0, r1, s0, slice_rows, scratch)
            for s in range(T):
                t = T - 1 - s if reverse else s
                p, n = _states_around(t, reverse)
                Z, H_prev = _step_gemms(X, W_x_packed, XW, W_h_packed, Hs, HW_s, t, p, s0, s1,
                                        x0)
                _lstm_forward_rows(Z, b, HW_s, H_prev, Cs[p][s0:s1], Hs[n][s0:s1],
                                   Cs[n][s0:s1], P, valid[t][s0:s1], Y[t][s0:s1], masked,
                                   peephole, coupled)
        _block_done(flags, j)

    @_jit
    def backward_loop(flags, j, G, W_hT_packed, Cs, dY, dZ, dH_gemm, dH_carry, dC, P, valid,
                      masked, reverse, truncate, r0, r1, share):
        if not _block_starts(flags, j):
            return
        T = G.shape[0]
        dH_gemm, dH_carry, dC = dH_gemm[r0:r1], dH_carry[r0:r1], dC[r0:r1]
        for s in range(T):
            t = s if reverse else T - 1 - s
            if truncate > 0 and s > 0 and chunk_starts(t, truncate, reverse):
                dH_gemm[:] = 0
                dH_carry[:] = 0
                dC[:] = 0
            p, n = _states_around(t, reverse)
            dZ_t = dZ[t][r0:r1]
            _lstm_backward_rows(G[t][r0:r1], Cs[p][r0:r1], Cs[n][r0:r1], dH_gemm, dH_carry,
                                dY[t][r0:r1], dC, dZ_t, P, valid[t][r0:r1], masked, peephole,
                                coupled)
            _packed_matmul(dZ_t, W_hT_packed, dH_gemm)  # (B10)
        if share is not None:
            _block_weight_grads(*share)
        _block_done(flags, j)

    return Functions(forward_step, backward_step, forward_loop, backward_loop)


# ---------------------------------------------------------------- GRU


@_jit
def _gru_forward_rows(G, b_x, HW, b_h, H_prev, H, HW_n, valid_t, Y_t, masked):
    """Equations (G1)-(G4) for one step, all rows. G (N, 3H): X_t W_x on entry, the gates
    R, Z, H~ on exit; b_x, b_h (3H,); HW (N, 3H) = H_{t-1} W_h. Writes H and HW_n (N, H) =
    H_{t-1} W_hn + b_hn (and Y_t when masked)."""
    N, Hn = H.shape
    one = G.dtype.type(1)
    bx_r, bx_z, bx_n = b_x[:Hn], b_x[Hn:2 * Hn], b_x[2 * Hn:]
    b_r, b_z, b_n = b_h[:Hn], b_h[Hn:2 * Hn], b_h[2 * Hn:]
    for n in range(N):
        if masked and not valid_t[n]:
            H[n] = H_prev[n]
            HW_n[n] = 0
            Y_t[n] = 0
            continue
        g_r, g_z, g_n = G[n, :Hn], G[n, Hn:2 * Hn], G[n, 2 * Hn:]
        hw_r, hw_z, hw_n = HW[n, :Hn], HW[n, Hn:2 * Hn], HW[n, 2 * Hn:]
        h_prev, h_new, hw_n_kept = H_prev[n], H[n], HW_n[n]
        for j in range(Hn):
            HW_nj = hw_n[j] + b_n[j]
            R = _sigmoid((g_r[j] + bx_r[j]) + (hw_r[j] + b_r[j]))  # (G1)
            Z = _sigmoid((g_z[j] + bx_z[j]) + (hw_z[j] + b_z[j]))  # (G2)
            H_tilde = _tanh((g_n[j] + bx_n[j]) + R * HW_nj)  # (G3)
            g_r[j], g_z[j], g_n[j] = R, Z, H_tilde
            hw_n_kept[j] = HW_nj
            h_new[j] = (one - Z) * H_tilde + Z * h_prev[j]  # (G4)
        if masked:
            Y_t[n] = h_new


@_jit
def _gru_backward_rows(G, H_prev, HW_n, dH_gemm, dH_carry, dY_t, dXW, dHW, valid_t, masked):
    """(GB1)-(GB7) for one step, all rows. The gradient reaching H_t is dH_gemm + dH_carry +
    dY_t. Writes dXW, dHW (N, 3H) and dH_carry = dH Z (GB3) (at a masked row: the gradient
    passing through); the caller adds dHW W_h^T (GB8)."""
    N, Hn = H_prev.shape
    one = G.dtype.type(1)
    for n in range(N):
        if masked and not valid_t[n]:
            dH_carry[n] += dH_gemm[n]
            dXW[n] = 0
            dHW[n] = 0
            continue
        g_r, g_z, g_n = G[n, :Hn], G[n, Hn:2 * Hn], G[n, 2 * Hn:]
        dxw_r, dxw_z, dxw_n = dXW[n, :Hn], dXW[n, Hn:2 * Hn], dXW[n, 2 * Hn:]
        dhw_r, dhw_z, dhw_n = dHW[n, :Hn], dHW[n, Hn:2 * Hn], dHW[n, 2 * Hn:]
        h_prev, hw_n, dh_gemm, dh_carry, dy = H_prev[n], HW_n[n], dH_gemm[n], dH_carry[n], dY_t[n]
        for j in range(Hn):
            dH = dh_gemm[j] + dh_carry[j] + dy[j]
            R, Z, H_tilde = g_r[j], g_z[j], g_n[j]
            dH_tilde = dH * (one - Z)  # (GB1)
            dZ = dH * (h_prev[j] - H_tilde)  # (GB2)
            dXW_n = dH_tilde * (one - H_tilde * H_tilde)  # (GB4)
            dR = dXW_n * hw_n[j]  # (GB5)
            dXW_r = dR * (R * (one - R))  # (GB7)
            dXW_z = dZ * (Z * (one - Z))  # (GB7)
            dxw_r[j], dxw_z[j], dxw_n[j] = dXW_r, dXW_z, dXW_n
            dhw_r[j], dhw_z[j], dhw_n[j] = dXW_r, dXW_z, dXW_n * R  # (GB6)
            dh_carry[j] = dH * Z  # (GB3)


@_jit
def gru_forward_step(XW, b_x, HW, b_h, Hs, HW_n, valid, Y, t, masked, reverse):
    p, n = _states_around(t, reverse)
    _gru_forward_rows(XW[t], b_x, HW, b_h, Hs[p], Hs[n], HW_n[t], valid[t], Y[t], masked)


@_jit
def gru_backward_step(G, Hs, HW_n, dY, dXW, dHW, dH_gemm, dH_carry, valid, t, masked, reverse):
    p = t + 1 if reverse else t
    _gru_backward_rows(G[t], Hs[p], HW_n[t], dH_gemm, dH_carry, dY[t], dXW[t], dHW[t],
                       valid[t], masked)


@_jit
def gru_forward_loop(flags, j, X, W_x_packed, XW, b_x, W_h_packed, b_h, Hs, HW_n, valid, Y, HW,
                     masked, reverse, r0, r1, slice_rows, scratch):
    if not _block_starts(flags, j):
        return
    T = X.shape[0]
    for s0 in range(r0, r1, slice_rows):
        s1, x0, HW_s = _slice_of(HW, r0, r1, s0, slice_rows, scratch)
        for s in range(T):
            t = T - 1 - s if reverse else s
            p, n = _states_around(t, reverse)
            G, H_prev = _step_gemms(X, W_x_packed, XW, W_h_packed, Hs, HW_s, t, p, s0, s1, x0)
            _gru_forward_rows(G, b_x, HW_s, b_h, H_prev, Hs[n][s0:s1], HW_n[t][s0:s1],
                              valid[t][s0:s1], Y[t][s0:s1], masked)
    _block_done(flags, j)


@_jit
def gru_backward_loop(flags, j, G, W_hT_packed, Hs, HW_n, dY, dXW, dHW, dH_gemm, dH_carry,
                      valid, masked, reverse, truncate, r0, r1, share):
    if not _block_starts(flags, j):
        return
    T = G.shape[0]
    dH_gemm, dH_carry = dH_gemm[r0:r1], dH_carry[r0:r1]
    for s in range(T):
        t = s if reverse else T - 1 - s
        if truncate > 0 and s > 0 and chunk_starts(t, truncate, reverse):
            dH_gemm[:] = 0
            dH_carry[:] = 0
        p = t + 1 if reverse else t
        dHW_t = dHW[t][r0:r1]
        _gru_backward_rows(G[t][r0:r1], Hs[p][r0:r1], HW_n[t][r0:r1], dH_gemm, dH_carry,
                           dY[t][r0:r1], dXW[t][r0:r1], dHW_t, valid[t][r0:r1], masked)
        _packed_matmul(dHW_t, W_hT_packed, dH_gemm)  # (GB8)
    if share is not None:
        _block_weight_grads(*share)
    _block_done(flags, j)


GRU_FUNCTIONS = Functions(gru_forward_step, gru_backward_step, gru_forward_loop,
                          gru_backward_loop)


# ---------------------------------------------------------------- the runner's entry points

_DEFAULTS = {"gate_activation": Activation("sigmoid"), "candidate_activation": Activation("tanh"),
             "cell_activation": Activation("tanh")}


def covers(step):
    """True when these kernels compute `step`: default activations, LSTM without clip, GRU (G3)."""
    if isinstance(step, LSTMStep):
        ok = step.clip is None
    elif isinstance(step, GRUStep):
        ok = step.linear_before_reset
    else:
        return False
    return ok and all(getattr(step, name, default) == default
                      for name, default in _DEFAULTS.items())


def functions(step):
    """The compiled entry points for `step` (a covered cell)."""
    if isinstance(step, LSTMStep):
        return lstm_functions(step.peephole, step.coupled)
    return GRU_FUNCTIONS


def whole_loop(N, H, n_gates):
    """True: compile the whole time loop (small steps, or BLAS on one thread); False: a Python
    loop over steps."""
    return N * H * n_gates * H <= WHOLE_LOOP_MAX_MACS or _blas_one_thread()


# ---------------------------------------------------------------- row blocks

# A batch's rows are independent sequences, so with k BLAS threads the compiled whole loop can
# run on k blocks of rows at once, one thread each, each step projecting the block's rows of
# X_t itself (the tile kernels on W_x packed): the gate math then uses every core (on the
# per-step path it runs on one while BLAS uses all), no BLAS runs, and no thread waits on
# another before the loop ends.
# It pays only while OpenBLAS's idle workers leave the cores to these threads: after a call on
# several threads (the weight gradients, the next layer) they spin for OPENBLAS_THREAD_TIMEOUT
# (read when OpenBLAS loads; 2^28 cycles, about 0.1 s, by default), and a spinning worker
# takes a core from a block. Measured in one process, a training step followed by a 2-thread
# GEMM (an output layer), 2 threads: blocks against the per-step path 0.70-0.95x with the
# default timeout, 1.02-1.10x with 2^22 cycles and 1.06-1.28x with 2^4 (mnist, charlm, large;
# blocks calling OpenBLAS on one thread then). So blocks are used only when NumPy's OpenBLAS
# loaded with OPENBLAS_THREAD_TIMEOUT at most QUICK_SLEEP_TIMEOUT (_blas_workers_sleep_soon),
# for steps whose GEMM is above ROW_BLOCK_MIN_MACS, at least ROW_BLOCK_MIN_ROWS rows a block.
QUICK_SLEEP_TIMEOUT = 22
ROW_BLOCK_MIN_MACS = 2**18
ROW_BLOCK_MIN_ROWS = 8

# In the forward, a block runs its rows in slices of at most SLICE_ROWS rows, one after the
# other, each through all its steps. Each step projects its slice's rows of X_t just before
# its GEMM H_{t-1} W_h, so the gate math reads X_t W_x from L1, where a projection of all
# steps first (T x 16 x 4H floats, 0.9 MiB for mnist) came back from L2 or L3; in eval mode,
# where no gates are kept, every step projects into the same one-step scratch of the slice.
# Measured interleaved with torch, 2 threads, against projecting
# each slice's steps first (into a T-step scratch in eval mode): forward 3-6% faster on mnist,
# 14-17% on stock, 5-8% on charlm, 1.5% on large; training 1-3% (two runs each). Slices, from
# when the projection came first: mnist's forward 4-12% faster than whole blocks, and still
# 4% on large with the projection in the steps (mnist 3% slower); BPTT runs whole blocks.
# 16 rows are four TILE_ROWS tiles, as many as the step's GEMM needs to reuse each panel of
# W_h in registers.
SLICE_ROWS = 16


class _Worker:
    """A thread that runs the row blocks handed to it, one at a time (see "the hand-off of
    row blocks" above)."""

    def __init__(self):
        self._start = threading.Lock()  # held while there is nothing to run
        self._start.acquire()
        self._idle = threading.Lock()  # held from a hand-over until that block returned
        self._task, self._error = None, None
        threading.Thread(target=self._run, name="lstmkit-rows", daemon=True).start()

    def _run(self):
        while True:
            self._start.acquire()
            function, arguments = self._task
            self._task = None
            try:
                function(*arguments)
            except BaseException as error:  # raised on the calling thread by join
                self._error = error
            finally:
                # the block's buffers go back to the workspace (held here, they would make it
                # take new ones for the next call)
                function = arguments = None
                self._idle.release()

    def submit(self, function, arguments):
        """Run function(*arguments) on this thread, once the block handed over before it has
        returned."""
        self._idle.acquire()
        self._task = (function, arguments)
        self._start.release()

    def join(self):
        """Wait until the block handed over last has returned; its error, or None."""
        with self._idle:
            error, self._error = self._error, None
        return error


_workers = []  # made on first use, as many as blocks need
_workers_lock = threading.Lock()
os.register_at_fork(after_in_child=_workers.clear)  # a forked child has none of the threads


@functools.cache
def loaded_thread_timeout(path):
    """The OPENBLAS_THREAD_TIMEOUT that the OpenBLAS library at `path` read when it loaded, as
    its openblas_thread_timeout() returns it (0 when unset), or None when it has no such
    function (an older OpenBLAS)."""
    try:
        return int(ctypes.CDLL(path).openblas_thread_timeout())
    except (OSError, AttributeError):
        return None


def _blas_workers_sleep_soon(lib):
    """True when NumPy's OpenBLAS lets its idle workers sleep within 2^QUICK_SLEEP_TIMEOUT
    cycles: its OPENBLAS_THREAD_TIMEOUT is 1 to QUICK_SLEEP_TIMEOUT (it takes 1-3 as 4, and 0
    or less as unset: 2^28 cycles). The value is the one OpenBLAS read when it loaded: set
    later, from Python, the variable changes nothing in OpenBLAS, so it must change nothing
    here (row blocks beside spinning workers ran mnist's forward 1.4x slower than with the
    variable set before start, and a torch step in the same process 1.5-2x). Another BLAS, or
    an OpenBLAS that does not report it: the environment's value now."""
    timeout = loaded_thread_timeout(lib.filepath) if lib.internal_api == "openblas" else None
    if timeout is None:
        try:
            timeout = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", ""))
        except ValueError:
            return False
    return 1 <= timeout <= QUICK_SLEEP_TIMEOUT


def row_blocks(N, H, n_gates):
    """The (r0, r1) bounds of the row blocks a sequence of N rows runs in: one per thread of
    NumPy's BLAS when blocks pay (see QUICK_SLEEP_TIMEOUT), else the one block (0, N)."""
    lib = _numpy_blas() if N * H * n_gates * H > ROW_BLOCK_MIN_MACS else None
    if lib is None or not _blas_workers_sleep_soon(lib):
        return ((0, N),)
    return split_rows(N, min(lib.num_threads, N // ROW_BLOCK_MIN_ROWS))


def split_rows(n, k):
    """n rows in max(k, 1) contiguous blocks of nearly equal size: ((r0, r1), ...)."""
    k = max(k, 1)
    bounds = [n * i // k for i in range(k + 1)]
    return tuple(zip(bounds[:-1], bounds[1:], strict=True))


def run_blocks(function, blocks, arguments, packs=()):
    """function(flags, j, *arguments(r0, r1)) for every block j, the first on this thread, the
    others at once on worker threads; returns when all are done (an error in any is raised
    here). The workers get their blocks first; then this thread fills `packs`, pairs
    (B, packed_empty(B)) that pack_columns fills, while they wake, and says "go" in flags.
    A block that is a compiled loop waits for "go" and says it is done through flags
    (_block_starts, _block_done); any other function runs at once and is waited for."""
    flags = np.zeros(len(blocks), np.int64)
    with _workers_lock:
        while len(_workers) < len(blocks) - 1:
            _workers.append(_Worker())
        workers = _workers[:len(blocks) - 1]
    for j, worker in enumerate(workers, 1):
        worker.submit(function, (flags, j, *arguments(*blocks[j])))
    ran = False
    try:
        for B, packed in packs:
            pack_columns(B, packed)
        _set_flag(flags, 0, 1)
        function(flags, 0, *arguments(*blocks[0]))
        ran = True
    finally:
        if not ran:
            _set_flag(flags, 0, -1)  # blocks that have not started stop
        for j in range(1, len(blocks) if ran else 1):
            _wait_flag(flags, j, SPIN_ROUNDS)  # then the join below rarely has to sleep
        # joined, each worker has let go of its block's arguments: the workspace's buffers
        # are free for the next call
        errors = [worker.join() for worker in workers]
    for error in errors:
        if error is not None:
            raise error


def _mode(blocks, loop):
    """How a sequence runs, as kernels.calls names it: row blocks, whole loop or per step."""
    return "blocks" if len(blocks) > 1 else "loop" if loop else "step"


@register_jitable
def _step_slot(XW, t, r0, r1, x0):
    """Rows r0:r1 of step t's slot in XW (T, rows, G*H), whose first row holds the batch's row
    x0; a single slot (1, rows, G*H), eval mode's scratch, serves every step."""
    return XW[t % XW.shape[0]][r0 - x0:r1 - x0]


@register_jitable
def _step_gemms(X, W_x_packed, XW, W_h_packed, Hs, HW, t, p, s0, s1, x0):
    """The GEMMs of step t (state before it at Hs[p]) for rows s0:s1 of a forward loop,
    before its gate math: on row blocks (W_x_packed given) those rows of X_t W_x into their
    slot of XW (_step_slot; the one block's slot holds them already), and H_{t-1} W_h into
    HW. Returns the slot and H_{t-1}'s rows."""
    Z = _step_slot(XW, t, s0, s1, x0)
    if W_x_packed is not None:
        _packed_matmul(X[t][s0:s1], W_x_packed, Z)
    H_prev = Hs[p][s0:s1]
    _packed_matmul(H_prev, W_h_packed, HW)
    return Z, H_prev


def _forward_blocks(forward_loop, blocks, X, XW, W_x_packed, GH, arguments, packs):
    """forward_loop(flags, j, X, W_x_packed, gates, *arguments(r0, r1), slice_rows, scratch)
    on every row block j at once (run_blocks, which fills `packs` first). One block: XW holds
    the projection already (W_x_packed None), all rows one slice. Several: each step of a
    block projects its own rows of X_t (the tile kernels on W_x packed) just before its GEMM
    reads them: on the block's thread and without BLAS (a BLAS call on several threads would
    leave its workers spinning into the blocks, one on one thread would need BLAS pinned from
    here); slice by slice (SLICE_ROWS), into XW (T, N, G*H) when the gates are kept for BPTT,
    else (XW None: eval mode) into a one-step scratch (1, SLICE_ROWS, G*H) of the block, whose
    first row holds the slice's first (scratch True), which every step of the slice reuses
    from the core's L1 (kept per thread from call to call, it measured no faster)."""
    slice_rows = SLICE_ROWS if len(blocks) > 1 else max(blocks[0][1], 1)

    def block_arguments(r0, r1):
        gates = XW if XW is not None else np.empty((1, min(slice_rows, r1 - r0), GH), X.dtype)
        return (X, W_x_packed, gates, *arguments(r0, r1), slice_rows, XW is None)

    run_blocks(forward_loop, blocks, block_arguments, packs)


def _input_projection(X, W_x, out):
    """out = X W_x, X (T*N, D): one GEMM, or with D = 1 the outer product it is, by
    broadcasting (NumPy's matmul takes 1.5 ms for 3200 x 1 x 256, broadcasting 0.4 ms; the
    same numbers)."""
    if X.shape[1] == 1:
        return np.multiply(X, W_x[0], out=out)
    return np.matmul(X, W_x, out=out)


class Buffers(NamedTuple):
    """What the fast forward keeps for BPTT (module docstring): arrays over all steps."""

    gates: np.ndarray  # (T, N, G*H) I, F, C~, O (LSTM) or R, Z, H~ (GRU) of every step
    H: np.ndarray  # (T+1, N, H) hidden states in time order
    C: np.ndarray | None  # (T+1, N, H) memory cells (LSTM)
    HW_n: np.ndarray | None  # (T, N, H) H_{t-1} W_hn + b_hn (GRU)


def _valid(valid, T, N):
    """(T, N) bool for the kernels, and whether any row is masked."""
    if valid is None:
        return _all_valid(T, N), False
    return np.ascontiguousarray(valid, bool), True


@functools.lru_cache(maxsize=8)
def _all_valid(T, N):
    """np.ones((T, N), bool), made once for a shape: the kernels only read it (a fresh one
    took 16-24 us of each forward and BPTT on cold caches)."""
    return np.ones((T, N), bool)


def _peepholes(step, params, dtype):
    return (np.ascontiguousarray(params["P"], dtype) if step.peephole
            else np.zeros((3, 1), dtype))  # never read


def unroll(step, params, X, state, valid, reverse, keep):
    """The fast forward of one layer and direction, X (T, N, D). Returns (Y (T, N, H), final
    state, stacked cache, Buffers); the last two are None unless keep.

    The input projection is the one GEMM X W_x of the cell's input_projection; its bias is
    added inside the step kernels (one pass less over the (T, N, G*H) array).

    The stacked cache is the cell's cache NamedTuple with each field stacked over time,
    (T, N, ...) views into the buffers, None where nothing is kept: what weight_grads reads.
    """
    T, N, D = X.shape
    H = state.H.shape[1]
    GH = step.n_gates * H
    dtype = X.dtype
    f = functions(step)
    blocks = row_blocks(N, H, step.n_gates)
    W_x = np.asarray(params["W_x"], dtype)
    # with several row blocks, each step projects its own rows (_forward_blocks), in eval mode
    # into a one-step scratch: then no (T, N, G*H) buffer at all
    XW = None if len(blocks) > 1 and not keep else workspace.empty((T, N, GH), dtype)
    X = np.ascontiguousarray(X)
    W_x_packed, packs = None, []  # packs: filled by run_blocks while its workers wake
    if len(blocks) > 1:
        W_x_packed = packed_empty(W_x)
        packs.append((W_x, W_x_packed))
    else:
        _input_projection(X.reshape(T * N, D), W_x, XW.reshape(T * N, GH))
    b = params.get("b" if isinstance(step, LSTMStep) else "b_x")
    b = np.zeros(GH, dtype) if b is None else np.ascontiguousarray(b, dtype)
    W_h = np.ascontiguousarray(params["W_h"], dtype)
    valid_b, masked = _valid(valid, T, N)
    Hs = workspace.empty((T + 1, N, H), dtype)
    first, last = (T, 0) if reverse else (0, T)
    Hs[first] = state.H
    H_prev = Hs[1:] if reverse else Hs[:T]  # (T, N, H), H_{t-1} of step t
    Y = workspace.empty((T, N, H), dtype) if masked else (Hs[:T] if reverse else Hs[1:])
    HW = np.empty((N, GH), dtype)  # H_{t-1} W_h, reused by every step
    loop = len(blocks) > 1 or whole_loop(N, H, step.n_gates)
    order = range(T - 1, -1, -1) if reverse else range(T)
    kind = type(step).__name__[:-4].lower()  # "lstm", "gru"
    _count(f"{kind}_forward_{_mode(blocks, loop)}")
    W_h_packed = packed_empty(W_h) if loop else None
    if loop:
        packs.append((W_h, W_h_packed))
    if isinstance(step, LSTMStep):
        Cs = workspace.empty((T + 1, N, H), dtype)
        Cs[first] = state.C
        P = _peepholes(step, params, dtype)
        if loop:
            _forward_blocks(f.forward_loop, blocks, X, XW, W_x_packed, GH, lambda r0, r1: (
                b, W_h_packed, Hs, Cs, P, valid_b, Y, HW[r0:r1], masked, reverse, r0, r1), packs)
        else:
            for t in order:
                np.matmul(H_prev[t], W_h, out=HW)
                f.forward_step(XW, b, HW, Hs, Cs, P, valid_b, Y, t, masked, reverse)
        final = LSTMState(Hs[last], Cs[last])
        if not keep:
            return Y, final, None, None
        C_prev, C = (Cs[1:], Cs[:T]) if reverse else (Cs[:T], Cs[1:])
        I, F, C_tilde, O = gate_blocks(XW, 4)
        cache = LSTMCache(H_prev, C_prev, I, F, C_tilde, O, C, None, None)
        return Y, final, cache, Buffers(XW, Hs, Cs, None)
    b_h = params.get("b_h")
    b_h = np.zeros(GH, dtype) if b_h is None else np.ascontiguousarray(b_h, dtype)
    HW_n = workspace.empty((T, N, H), dtype)
    if loop:
        _forward_blocks(f.forward_loop, blocks, X, XW, W_x_packed, GH, lambda r0, r1: (
            b, W_h_packed, b_h, Hs, HW_n, valid_b, Y, HW[r0:r1], masked, reverse, r0, r1), packs)
    else:
        for t in order:
            np.matmul(H_prev[t], W_h, out=HW)
            f.forward_step(XW, b, HW, b_h, Hs, HW_n, valid_b, Y, t, masked, reverse)
    final = GRUState(Hs[last])
    if not keep:
        return Y, final, None, None
    R, Z, H_tilde = gate_blocks(XW, 3)
    cache = GRUCache(H_prev, R, Z, H_tilde, HW_n, None)
    return Y, final, cache, Buffers(XW, Hs, None, HW_n)


def bptt(step, params, dY, dstate, tape, truncate):
    """The fast BPTT of one `unroll`, from its tape, and the weight gradients after it.
    Returns (dX (T, N, D), the gradient of the initial state, grads) as sequence.bptt does;
    truncate as there. On row blocks with small weight gradients (blocks_share_weight_grads)
    each block computes its rows' share of them and of dX after its loop
    (_block_weight_grads), and so does the whole loop's one block where one_block_shares;
    otherwise, and for the peephole LSTM (its dP is the cell's own sum), the cell's
    weight_grads does, one GEMM each over all steps."""
    buffers, valid, reverse = tape.fast, tape.valid, tape.reverse
    G = buffers.gates
    T, N, GH = G.shape
    H = GH // step.n_gates
    dtype = G.dtype
    f = functions(step)
    if not (dY.flags.c_contiguous and dY.dtype == dtype):  # e.g. a direction's half of dY
        dY, strided = workspace.empty(dY.shape, dtype), dY
        dY[...] = strided
    valid_b, masked = _valid(valid, T, N)
    truncate = 0 if truncate is None else int(truncate)
    dH_gemm = np.array(dstate.H, dtype, order="C")  # copies
    dH_carry = np.zeros((N, H), dtype)
    dXW = workspace.empty((T, N, GH), dtype)
    lstm = isinstance(step, LSTMStep)
    dHW = dXW if lstm else workspace.empty((T, N, GH), dtype)
    blocks = row_blocks(N, H, step.n_gates)
    loop = len(blocks) > 1 or whole_loop(N, H, step.n_gates)
    W_h = np.asarray(params["W_h"], dtype)
    W_hT_packed = packed_empty(W_h.T) if loop else None  # W_h^T (G*H, H), for dZ_t W_h^T
    dH_T = None if loop else np.empty((H, N), dtype)
    order = range(T) if reverse else range(T - 1, -1, -1)
    # the steps where truncation cuts, for the per-step loop (tiny's T = 1000: 0.1 ms of
    # Python when built for every call)
    cuts = ({t for s, t in enumerate(order) if s and chunk_starts(t, truncate, reverse)}
            if truncate and not loop else ())
    kind = type(step).__name__[:-4].lower()
    _count(f"{kind}_backward_{_mode(blocks, loop)}")
    D = tape.X.shape[2]
    share = ((len(blocks) > 1 or (loop and one_block_shares(T, N, D, H, GH)))
             and not (lstm and step.peephole) and blocks_share_weight_grads(H, GH, dtype))
    if share:
        _count(f"{kind}_weight_grads_blocks")
    shares = _WeightShares(step, params, tape, blocks, dXW, dHW) if share else None
    packs = ([(W_h.T, W_hT_packed)] if loop else []) + (shares.packs if share else [])
    if lstm:
        dC = np.array(dstate.C, dtype, order="C")
        P = _peepholes(step, params, dtype)
        if loop:
            _backward_blocks(f.backward_loop, blocks, shares, lambda r0, r1: (
                G, W_hT_packed, buffers.C, dY, dXW, dH_gemm, dH_carry, dC, P, valid_b, masked,
                reverse, truncate, r0, r1), packs)
        else:
            for t in order:
                if t in cuts:
                    dH_gemm[:] = dH_carry[:] = dC[:] = 0
                f.backward_step(G, buffers.C, dY, dXW, dH_gemm, dH_carry, dC, P, valid_b, t,
                                masked, reverse)
                _times_transposed(dXW[t], W_h, dH_gemm, dH_T)  # (B10)
        dstate0 = LSTMState(dH_gemm + dH_carry, dC)
    else:
        if loop:
            _backward_blocks(f.backward_loop, blocks, shares, lambda r0, r1: (
                G, W_hT_packed, buffers.H, buffers.HW_n, dY, dXW, dHW, dH_gemm, dH_carry,
                valid_b, masked, reverse, truncate, r0, r1), packs)
        else:
            for t in order:
                if t in cuts:
                    dH_gemm[:] = dH_carry[:] = 0
                f.backward_step(G, buffers.H, buffers.HW_n, dY, dXW, dHW, dH_gemm, dH_carry,
                                valid_b, t, masked, reverse)
                _times_transposed(dHW[t], W_h, dH_gemm, dH_T)  # (GB8)
        dstate0 = GRUState(dH_gemm + dH_carry)
    if shares is None:
        dX, grads = step.weight_grads(params, tape.X, tape.caches, dXW, dHW)
    else:
        dX, grads = shares.total()
    return dX, dstate0, grads


def dx_in_blocks(D, dtype):
    """True when the blocks' tiles compute dX = dZ W_x^T too: when padding D to whole panels
    adds at most a quarter (mnist's 28 columns to 32; dX in the blocks measured 0-4% faster
    on mnist than one NumPy GEMM after them). Else (stock's 1 to 32: 1-3% slower) the GEMM."""
    w = panel_width(dtype)
    return -(-D // w) * w <= 1.25 * D


class _WeightShares:
    """The row blocks' shares of the weight gradients (_block_weight_grads), and dX: the
    blocks' rows of it, or one NumPy GEMM after them (dx_in_blocks)."""

    def __init__(self, step, params, tape, blocks, dXW, dHW):
        X = tape.X
        T, N, D = X.shape
        GH, dtype = dXW.shape[2], dXW.dtype
        H = GH // step.n_gates
        self.dXW, self.dHW = dXW, dHW
        self.X = np.ascontiguousarray(X, dtype)
        self.H_prev = tape.caches.H_prev
        self.W_x = np.asarray(params["W_x"], dtype)
        self.W_xT_packed = packed_empty(self.W_x.T) if dx_in_blocks(D, dtype) else None
        self.packs = [] if self.W_xT_packed is None else [(self.W_x.T, self.W_xT_packed)]
        self.blocks, self.lstm = blocks, isinstance(step, LSTMStep)
        self.bias = "b" in params if self.lstm else "b_x" in params
        k = len(blocks)
        self.dW_x = workspace.empty((k, D, GH), dtype)
        self.dW_h = workspace.empty((k, H, GH), dtype)
        self.db = workspace.empty((k, 2, GH), dtype)
        self.dX = np.empty((T, N, D), dtype)

    def of(self, r0, r1):
        """The arguments of _block_weight_grads for block (r0, r1)'s share, which its BPTT loop
        computes after its steps (W_xT_packed filled by then: self.packs)."""
        k = self.blocks.index((r0, r1))
        return (self.X, self.H_prev, self.dXW, self.dHW, self.W_xT_packed, self.dX,
                self.dW_x[k], self.dW_h[k], self.db[k, 0], self.db[k, 1], r0, r1, self.lstm)

    def total(self):
        """(dX, grads) as the cell's weight_grads returns them: the shares added."""
        dW_x, dW_h, db = (np.empty(A.shape[1:], A.dtype) for A in (self.dW_x, self.dW_h, self.db))
        _sum_shares(self.dW_x, self.dW_h, self.db, dW_x, dW_h, db)
        grads = {"W_x": dW_x, "W_h": dW_h}
        if self.bias:
            grads.update({"b": db[0]} if self.lstm else {"b_x": db[0], "b_h": db[1]})
        if self.W_xT_packed is None:
            T, N, D = self.dX.shape
            np.matmul(self.dXW.reshape(T * N, -1), self.W_x.T, out=self.dX.reshape(T * N, D))
        return self.dX, grads


def _backward_blocks(backward_loop, blocks, shares, arguments, packs):
    """backward_loop(flags, j, *arguments(r0, r1), share) on every row block j at once
    (run_blocks, which fills `packs` first); share: the arguments of the block's share of the
    weight gradients (shares.of), or None."""
    run_blocks(backward_loop, blocks, lambda r0, r1: (
        *arguments(r0, r1), None if shares is None else shares.of(r0, r1)), packs)
