"""Numerical gradients by centered differences, to check the analytic backward passes.

For a scalar function f of an array A, entry by entry:

    df/dA[j] ~ (f(A + eps e_j) - f(A - eps e_j)) / (2 eps)

with error O(eps^2) from truncation (the third-derivative term) plus about u |f| / eps from
rounding (u the unit roundoff). In float64 (u ~ 1e-16) eps = 1e-6 keeps both near 1e-10
relative to |f|, so a correct gradient matches to ~1e-9 and a wrong one stands out; in
float32 (u ~ 6e-8) no eps gets below ~1e-5, and the rounding of the forward pass itself
brings it to 1e-4..1e-3, too coarse to tell a subtle bug from noise. So run gradient checks
in float64, on small sizes, and at points away from the kinks of piecewise activations
(relu, hard_sigmoid, ...; see kinks), where the derivative is not defined.

The error of one tensor is max|a - b| / max(max|b|, 1e-8): a the analytic gradient, b the
numerical one, relative to the largest entry of b (entrywise relative errors blow up where
a gradient is near 0).
"""

import numpy as np

from lstmkit.core.activations import Activation


def numerical_grad(f, A, eps=1e-6, entries=None):
    """df/dA (A's shape) by centered differences; f() -> float reads A.

    A is perturbed in place, one entry at a time, and restored exactly (the saved value
    is written back), so f must read the very array A, not a copy taken earlier.
    entries: flat indices of the entries to perturb; then the result is df/dA.flat[entries].
    """
    flat = A.reshape(-1)
    if not np.shares_memory(flat, A):
        raise ValueError("A must be contiguous so that it can be perturbed in place")
    indices = range(flat.size) if entries is None else entries
    grad = np.zeros(len(indices), np.float64)
    for n, j in enumerate(indices):
        saved = flat[j].copy()
        flat[j] = saved + eps
        f_plus = float(f())
        flat[j] = saved - eps
        f_minus = float(f())
        flat[j] = saved
        grad[n] = (f_plus - f_minus) / (2 * eps)
    return grad.reshape(A.shape) if entries is None else grad


def rel_error(a, b):
    """max|a - b| / max(max|b|, 1e-8): a analytic, b numerical."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"analytic gradient has shape {a.shape}, numerical {b.shape}")
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-8))


def check_grads(f, arrays, analytic, eps=1e-6, max_entries=None, seed=0):
    """{name: rel_error(analytic[name], numerical_grad(f, arrays[name], eps))} for every name.

    f() -> float reads the arrays of `arrays` (name: array); `analytic` holds the
    gradients from the backward pass under the same names. max_entries: compare at most
    that many entries of each array, drawn at random (seed), when every entry costs too
    many calls of f (whole-sequence checks); None compares them all.
    """
    missing = set(arrays) ^ set(analytic)
    if missing:
        raise KeyError(f"arrays and analytic must have the same names; differ in {sorted(missing)}")
    rng = np.random.default_rng(seed)
    errors = {}
    for name, A in arrays.items():
        a = np.asarray(analytic[name])
        if a.shape != A.shape:
            raise ValueError(f"{name}: analytic gradient has shape {a.shape}, array {A.shape}")
        if max_entries is None or A.size <= max_entries:
            errors[name] = rel_error(a, numerical_grad(f, A, eps))
        else:
            entries = np.sort(rng.choice(A.size, max_entries, replace=False))
            errors[name] = rel_error(a.reshape(-1)[entries], numerical_grad(f, A, eps, entries))
    return errors


def kinks(act: Activation) -> list:
    """The inputs where a piecewise activation has no derivative (or, thresholded_relu, a jump)."""
    a, b = act.alpha, act.beta
    if act.name == "hard_sigmoid":
        return [-b / a, (1 - b) / a] if a else []  # where alpha x + beta reaches 0 and 1
    if act.name in ("relu", "leaky_relu", "elu"):
        return [0.0]
    if act.name == "thresholded_relu":
        return [a]
    return []


def kink_distance(act: Activation, X) -> float:
    """The smallest |x - k| over the entries x of X and the kinks k of act (inf if none).

    A gradient check is valid only where this exceeds the change that eps causes in X.
    """
    X = np.asarray(X, np.float64)
    return min((float(np.min(np.abs(X - k), initial=np.inf)) for k in kinks(act)),
               default=float("inf"))
