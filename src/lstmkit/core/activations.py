"""Activation functions by name, each with its derivative written in terms of its output.

Every activation the ONNX LSTM / GRU operators allow is here, with ONNX's parameter
names (alpha, beta) and ONNX's defaults (onnxruntime's rnn_helpers):

    name              y = f(x)                          defaults    f'(x) from y
    sigmoid           1 / (1 + e^{-x})                              y (1 - y)
    tanh              tanh(x)                                       1 - y^2
    hard_sigmoid      min(max(alpha x + beta, 0), 1)    (0.2, 0.5)  alpha [0 < y < 1]
    relu              max(0, x)                                     [y > 0]
    identity          x                                             1
    softsign          x / (1 + |x|)                                 (1 - |y|)^2
    leaky_relu        x if x >= 0 else alpha x          (0.01)      [y >= 0] + alpha [y < 0]
    elu               x if x >= 0 else alpha (e^x - 1)  (1.0)       [y >= 0] + (y + alpha) [y < 0]
    softplus          log(1 + e^x)                                  1 - e^{-y}
    scaled_tanh       alpha tanh(beta x)                (1.0, 1.0)  beta (alpha - y^2 / alpha)
    affine            alpha x + beta                    (1.0, 0.0)  alpha
    thresholded_relu  x if x > alpha else 0             (1.0)       [y != 0]

Writing the derivative from the output y means the backward pass needs only what the
forward pass already keeps (the gate values), never the pre-activations. Two parameter
ranges would make that ambiguous and are refused: leaky_relu and elu need alpha > 0.
"""

from dataclasses import dataclass

import numpy as np

_DEFAULTS = {  # name: (alpha, beta) as onnxruntime fills them in
    "sigmoid": (None, None),
    "tanh": (None, None),
    "hard_sigmoid": (0.2, 0.5),
    "relu": (None, None),
    "identity": (None, None),
    "softsign": (None, None),
    "leaky_relu": (0.01, None),
    "elu": (1.0, None),
    "softplus": (None, None),
    "scaled_tanh": (1.0, 1.0),
    "affine": (1.0, 0.0),
    "thresholded_relu": (1.0, None),
}

NAMES = tuple(_DEFAULTS)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^{-x}). Where e^{-x} overflows (x < -88 in float32) it is inf and the
    result 0, the correct limit, so the overflow is not reported; elsewhere both roundings
    are relative, so the result is accurate to a few ulps for every x."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.asarray(x))
    if np.ndim(e) == 0:  # a scalar (or 0-d input): nothing to work in place
        return 1 / (1 + e)
    e += 1
    return np.reciprocal(e, out=e)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}), exact and overflow-free."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


@dataclass(frozen=True)
class Activation:
    """An activation function chosen by name, with ONNX's alpha and beta.

    `Activation("leaky_relu", alpha=0.1)`; alpha and beta default to ONNX's values and
    must be left out for activations that have none.
    """

    name: str
    alpha: float | None = None
    beta: float | None = None

    def __post_init__(self):
        if self.name not in _DEFAULTS:
            raise ValueError(
                f"unknown activation {self.name!r}; choose one of: {', '.join(NAMES)}"
            )
        default_alpha, default_beta = _DEFAULTS[self.name]
        for field, value, default in (("alpha", self.alpha, default_alpha),
                                      ("beta", self.beta, default_beta)):
            if default is None and value is not None:
                raise ValueError(f"activation {self.name!r} takes no {field}; leave it out")
            if value is None:
                object.__setattr__(self, field, default)
        if self.name in ("leaky_relu", "elu") and not self.alpha > 0:
            raise ValueError(
                f"activation {self.name!r} needs alpha > 0 (got {self.alpha}), so that its "
                "derivative can be read from its output"
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """y = f(x), same shape and dtype as x."""
        name, a, b = self.name, self.alpha, self.beta
        if name == "sigmoid":
            return sigmoid(x)
        if name == "tanh":
            return np.tanh(x)
        if name == "hard_sigmoid":
            return np.clip(a * x + b, 0, 1).astype(x.dtype, copy=False)
        if name == "relu":
            return np.maximum(x, 0)
        if name == "identity":
            return x.copy()
        if name == "softsign":
            return x / (1 + np.abs(x))
        if name == "leaky_relu":
            return np.where(x >= 0, x, a * x).astype(x.dtype, copy=False)
        if name == "elu":
            return np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
        if name == "softplus":
            return _softplus(x)
        if name == "scaled_tanh":
            return (a * np.tanh(b * x)).astype(x.dtype, copy=False)
        if name == "affine":
            return (a * x + b).astype(x.dtype, copy=False)
        return np.where(x > a, x, 0).astype(x.dtype, copy=False)  # thresholded_relu

    def grad(self, y: np.ndarray) -> np.ndarray:
        """f'(x) written in terms of y = f(x) (see the module table)."""
        name, a, b = self.name, self.alpha, self.beta
        if name == "sigmoid":
            return y * (1 - y)
        if name == "tanh":
            return 1 - y * y
        if name == "hard_sigmoid":
            return (a * ((y > 0) & (y < 1))).astype(y.dtype)
        if name == "relu":
            return (y > 0).astype(y.dtype)
        if name == "identity":
            return np.ones_like(y)
        if name == "softsign":
            return (1 - np.abs(y)) ** 2
        if name == "leaky_relu":
            return np.where(y >= 0, 1, a).astype(y.dtype)
        if name == "elu":
            return np.where(y >= 0, 1, y + a).astype(y.dtype)
        if name == "softplus":
            return -np.expm1(-y)
        if name == "scaled_tanh":
            if a == 0:
                return np.zeros_like(y)
            return (b * (a - y * y / a)).astype(y.dtype, copy=False)
        if name == "affine":
            return np.full_like(y, a)
        return (y != 0).astype(y.dtype)  # thresholded_relu


def get_activation(spec: "str | Activation") -> Activation:
    """An Activation from a name ("tanh") or an Activation (returned as is)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        return Activation(spec)
    raise TypeError(f"an activation is a name or an Activation, got {type(spec).__name__}")
