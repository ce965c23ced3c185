"""The sequence runner: any cell unrolled over T steps, and BPTT back through them.

One layer, one direction. Time-major arrays: X (T, N, D), Y (T, N, H). The runner
owns speed: one GEMM projects the input of all T steps (X W_x + b), each step adds one
GEMM for the recurrence inside the cell, and after the backward loop the cell computes
dW_x, dW_h and dX with one GEMM each over all steps.

Variable lengths: `valid` (T, N) bool, True at the steps that exist; each sequence's valid
steps are one contiguous run (core.checks builds and checks it). A row that is not valid
at step t keeps its state unchanged and outputs 0; so the final state is the state after
the last valid step, the reverse direction starts at the last valid step, and a sequence
of length 0 returns its initial state. BPTT mirrors this: an invalid step passes the
state gradient through untouched.

Two paths compute the same equations. The loops below call the cell's step_forward and
step_backward: the readable reference, and the path for every cell and option. The fast
kernels (core.kernels, numba) fuse each step's elementwise math into one compiled function,
compile the time loop itself where that pays (with their own GEMM on the packed recurrent
weights), and write into buffers taken once per sequence (core.workspace); they cover the
LSTM and GRU with the default activations (kernels.covers) and are chosen automatically,
unless the environment sets LSTMKIT_NO_JIT=1. core.kernels is imported on the first call
that uses it.
"""

import os
from typing import NamedTuple

import numpy as np


class Tape(NamedTuple):
    """What the forward pass of one layer and direction keeps for BPTT."""

    X: np.ndarray  # (T, N, D) layer input
    caches: list  # the cell's cache of every step, in time order
    valid: np.ndarray | None  # (T, N) bool, or None when every step is valid
    reverse: bool  # True: the steps ran from T-1 down to 0
    fast: object = None  # the fast path's kernels.Buffers; then caches is one cache of
    #                      arrays stacked over time (T, N, ...). None: the NumPy path


def over_time(caches, name):
    """The field `name` of every step, stacked over time (T, N, ...). caches: the list of the
    T step caches, or one cache whose fields are already stacked (the fast path's tape)."""
    if isinstance(caches, tuple):
        return getattr(caches, name)
    return np.stack([getattr(c, name) for c in caches])


def gate_blocks(A, n):
    """The n gate blocks of A (..., n*H) along its last axis, as views (..., H) each: plain
    slices, which cost a tenth of np.split's call."""
    H = A.shape[-1] // n
    return tuple(A[..., k * H:(k + 1) * H] for k in range(n))


def _fast_kernels(step, dtype):
    """core.kernels when it covers this cell and dtype and LSTMKIT_NO_JIT is not 1, else None."""
    if os.environ.get("LSTMKIT_NO_JIT") == "1" or dtype not in (np.float32, np.float64):
        return None
    try:
        from lstmkit.core import kernels
    except ImportError:  # numba missing: the NumPy path
        return None
    return kernels if kernels.covers(step) else None


def _where(valid_t, new, old):
    """new where the row is valid at this step, else old; for every array of a state."""
    m = valid_t[:, None]
    return type(new)(*(np.where(m, a, b) for a, b in zip(new, old, strict=True)))


def unroll(step, params, X, state, *, valid=None, reverse=False, keep=True):
    """Run `step` over the T steps of X.

    X (T, N, D); state the cell's initial state (each array (N, H)). Returns
    (Y (T, N, H), final state, Tape or None when keep=False).
    """
    T, N, D = X.shape
    fast = _fast_kernels(step, X.dtype)
    if fast is not None:  # X W_x too (one GEMM, or one per row block); bias added in the steps
        Y, state, caches, buffers = fast.unroll(step, params, X, state, valid, reverse, keep)
        return Y, state, (Tape(X, caches, valid, reverse, buffers) if keep else None)
    XW = step.input_projection(params, X.reshape(T * N, D)).reshape(T, N, -1)  # (T, N, G*H)
    Y = np.empty((T, N, state.H.shape[1]), X.dtype)  # (T, N, H)
    caches = [None] * T if keep else None
    for t in reversed(range(T)) if reverse else range(T):
        new_state, cache = step.step_forward(params, XW[t], state)
        if valid is None:
            Y[t] = new_state.H
        else:
            new_state = _where(valid[t], new_state, state)
            Y[t] = np.where(valid[t][:, None], new_state.H, 0)
        state = new_state
        if keep:
            caches[t] = cache
    return Y, state, (Tape(X, caches, valid, reverse) if keep else None)


def bptt(step, params, dY, dstate, tape, *, truncate=None):
    """Backpropagation through time for one `unroll`.

    dY (T, N, H) the gradient of the outputs, dstate the gradient of the final state
    (a state of arrays). The loop visits the steps in the reverse of the forward order
    and carries only the state gradient. truncate=k cuts that carried gradient at every
    boundary between the chunks [0, k), [k, 2k), ..., as torch does with .detach() of
    the state every k steps. Returns (dX (T, N, D), dstate of the initial state, grads).
    """
    X, caches, valid, reverse = tape.X, tape.caches, tape.valid, tape.reverse
    if tape.fast is not None:  # the tape of the fast forward
        from lstmkit.core import kernels

        return kernels.bptt(step, params, dY, dstate, tape, truncate)
    T, N, _ = X.shape
    dXW = dHW = None  # (T, N, G*H), allocated at the first step
    previous_chunk = None
    for t in range(T) if reverse else reversed(range(T)):
        if truncate is not None:
            if previous_chunk is not None and t // truncate != previous_chunk:
                dstate = type(dstate)(*(np.zeros_like(a) for a in dstate))
            previous_chunk = t // truncate
        dstate_t = dstate._replace(H=dstate.H + dY[t])  # output and next step both reach H_t
        dXW_t, dHW_t, dstate_prev = step.step_backward(params, dstate_t, caches[t])
        if valid is not None:  # invalid rows: no gradient to Z, the state gradient passes
            shared = dHW_t is dXW_t
            dXW_t = np.where(valid[t][:, None], dXW_t, 0)
            dHW_t = dXW_t if shared else np.where(valid[t][:, None], dHW_t, 0)
            dstate_prev = _where(valid[t], dstate_prev, dstate)
        if dXW is None:
            dXW = np.empty((T, *dXW_t.shape), dXW_t.dtype)
            dHW = dXW if dHW_t is dXW_t else np.empty_like(dXW)
        dXW[t] = dXW_t
        if dHW is not dXW:
            dHW[t] = dHW_t
        dstate = dstate_prev
    dX, grads = step.weight_grads(params, X, caches, dXW, dHW)
    return dX, dstate, grads
