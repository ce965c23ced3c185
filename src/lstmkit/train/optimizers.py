"""Optimizers: SGD, Adam, AdamW, RMSprop, Adagrad, with torch.optim's exact update rules.

Parameters and gradients are dict[str, ndarray] with the same keys, for example
{"l0.W_x": (D, 4H), "l0.W_h": (H, 4H), "l0.b": (4H,)}. An optimizer holds its hyperparameters
and its state buffers (dicts keyed like the parameters, created on the first step) and nothing
else. step(params, grads) updates the parameter arrays in place: they keep their identity and
dtype (float32 or float64); the gradients are left unchanged.

Each step docstring states the update for one parameter p with gradient g, in the notation
of the algorithm box of the matching torch.optim class (PyTorch 2.13, maximize=False,
foreach=False, fused=False, i.e. the single-tensor implementation), and the code follows
that implementation's order of operations.
"""

import numpy as np

Arrays = dict[str, np.ndarray]


class Optimizer:
    """Base class: the state_dict / load_state_dict shared by every optimizer.

    A subclass lists in _scalars the scalar attributes that change during training (lr, which
    schedules set, and the step counter t where the update uses one) and in _buffers the
    names of its buffer attributes, each a dict[str, ndarray] keyed like the parameters.
    """

    lr: float
    _scalars: tuple[str, ...] = ("lr",)
    _buffers: tuple[str, ...] = ()

    def step(self, params: Arrays, grads: Arrays) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray | float | int]:
        """The state as flat scalars and arrays, ready for an .npz file.

        Keys: each name of _scalars, and "<buffer>.<param key>" for each buffer array
        (copied). The other hyperparameters are not state: they come from the constructor
        (the config), on a fresh run as on a resumed one.
        """
        state: dict[str, np.ndarray | float | int] = {
            name: getattr(self, name) for name in self._scalars
        }
        for buffer in self._buffers:
            for key, array in getattr(self, buffer).items():
                state[f"{buffer}.{key}"] = array.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray | float | int]) -> None:
        """Restore what state_dict returned (copies the arrays; 0-d arrays are fine as scalars)."""
        name = type(self).__name__
        missing = [scalar for scalar in self._scalars if scalar not in state]
        if missing:
            raise ValueError(f"{name} state lacks {missing}: it was saved by another optimizer")
        buffers: dict[str, Arrays] = {buffer: {} for buffer in self._buffers}
        for entry, value in state.items():
            if entry in self._scalars:
                continue
            buffer, _, key = entry.partition(".")
            if buffer not in buffers or not key:
                raise ValueError(
                    f"{name} state has an unknown entry {entry!r}: it was saved by another "
                    "optimizer or with other settings (momentum, amsgrad, centered)"
                )
            buffers[buffer][key] = np.array(value)
        if len({frozenset(arrays) for arrays in buffers.values()}) > 1:
            raise ValueError(
                f"{name} state lacks some of the buffers {list(buffers)}: it was saved "
                "with other settings (momentum, amsgrad, centered)"
            )
        for scalar in self._scalars:
            setattr(self, scalar, type(getattr(self, scalar))(state[scalar]))
        for buffer, arrays in buffers.items():
            setattr(self, buffer, arrays)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD).

    lr: learning rate; momentum: factor mu (0 turns momentum off); dampening: tau;
    nesterov: Nesterov momentum (needs momentum > 0 and dampening == 0);
    weight_decay: L2 penalty lambda added to the gradient.
    """

    def __init__(
        self,
        lr: float = 1e-3,  # torch.optim.SGD's default
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening == 0")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = nesterov
        self.weight_decay = float(weight_decay)
        self._buffers = ("momentum_buffer",) if momentum else ()
        self.momentum_buffer: Arrays = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        """One update of every parameter, in place.

        g = g + weight_decay * p                       (1) if weight_decay
        b = g                                          (2) first step, if momentum
        b = momentum * b + (1 - dampening) * g         (2) later steps
        g = g + momentum * b  if nesterov  else  b     (3) if momentum
        p = p - lr * g                                 (4)
        """
        _check_keys(params, grads)
        for key, p in params.items():
            g = grads[key]
            if self.weight_decay:
                g = g + self.weight_decay * p  # (1)
            if self.momentum:
                b = self.momentum_buffer.get(key)
                if b is None:
                    b = self.momentum_buffer[key] = g.copy()  # (2)
                else:
                    b *= self.momentum
                    b += (1 - self.dampening) * g  # (2)
                g = g + self.momentum * b if self.nesterov else b  # (3)
            p -= self.lr * g  # (4)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), optionally AMSGrad (torch.optim.Adam).

    lr: learning rate; betas: (beta1, beta2), decay rates of the moment estimates;
    eps: added to the denominator; weight_decay: L2 penalty lambda added to the gradient;
    amsgrad: normalise by the running maximum of the second moment.
    """

    decoupled_weight_decay = False  # AdamW sets True
    _scalars = ("lr", "t")

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        _check_non_negative(lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.amsgrad = amsgrad
        self._buffers = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        self.t = 0  # steps taken; the bias corrections use it
        self.exp_avg: Arrays = {}
        self.exp_avg_sq: Arrays = {}
        self.max_exp_avg_sq: Arrays = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        """One update of every parameter, in place (m = exp_avg, v = exp_avg_sq).

        t = t + 1
        g = g + weight_decay * p                                 (1) Adam, if weight_decay
        p = p * (1 - lr * weight_decay)                          (1) AdamW instead
        m = beta1 * m + (1 - beta1) * g                          (2)
        v = beta2 * v + (1 - beta2) * g * g                      (3)
        v = v_max = max(v_max, v)                                (4) if amsgrad
        p = p - lr / (1 - beta1**t) * m
                / (sqrt(v) / sqrt(1 - beta2**t) + eps)           (5)
        """
        _check_keys(params, grads)
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self.t)
        bias_correction2_sqrt = (1 - beta2**self.t) ** 0.5
        for key, p in params.items():
            g = grads[key]
            if self.weight_decay and self.decoupled_weight_decay:
                p *= 1 - self.lr * self.weight_decay  # (1) AdamW
            elif self.weight_decay:
                g = g + self.weight_decay * p  # (1) Adam
            m = _buffer(self.exp_avg, key, p)
            v = _buffer(self.exp_avg_sq, key, p)
            m += (1 - beta1) * (g - m)  # (2), written as torch's lerp
            v *= beta2
            v += (1 - beta2) * g * g  # (3)
            if self.amsgrad:
                v_max = _buffer(self.max_exp_avg_sq, key, p)
                v = np.maximum(v_max, v, out=v_max)  # (4)
            p -= step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + self.eps))  # (5)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019; torch.optim.AdamW).

    As Adam, except that weight_decay (default 1e-2) shrinks the parameters directly,
    p = p * (1 - lr * weight_decay), instead of entering the gradient.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; centered form of Graves, 2013) (torch.optim.RMSprop).

    lr: learning rate; alpha: smoothing constant of the squared-gradient average;
    eps: added to the denominator; momentum: factor of the momentum buffer (0 turns it off);
    centered: normalise by the estimated variance instead of the second moment;
    weight_decay: L2 penalty lambda added to the gradient.
    """

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _check_non_negative(
            lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay
        )
        self.lr = float(lr)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.centered = centered
        self.weight_decay = float(weight_decay)
        self._buffers = (
            ("square_avg",)
            + (("momentum_buffer",) if momentum else ())
            + (("grad_avg",) if centered else ())
        )
        self.square_avg: Arrays = {}
        self.momentum_buffer: Arrays = {}
        self.grad_avg: Arrays = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        """One update of every parameter, in place (v = square_avg, m = grad_avg, b = buffer).

        g = g + weight_decay * p                       (1) if weight_decay
        v = alpha * v + (1 - alpha) * g * g            (2)
        m = alpha * m + (1 - alpha) * g                (3) if centered
        d = sqrt(v - m * m) + eps  if centered  else  sqrt(v) + eps      (4)
        b = momentum * b + g / d;   p = p - lr * b     (5) if momentum
        p = p - lr * g / d                             (5) otherwise
        """
        _check_keys(params, grads)
        for key, p in params.items():
            g = grads[key]
            if self.weight_decay:
                g = g + self.weight_decay * p  # (1)
            v = _buffer(self.square_avg, key, p)
            v *= self.alpha
            v += (1 - self.alpha) * g * g  # (2)
            if self.centered:
                m = _buffer(self.grad_avg, key, p)
                m += (1 - self.alpha) * (g - m)  # (3), written as torch's lerp
                d = np.sqrt(v - m * m) + self.eps  # (4)
            else:
                d = np.sqrt(v) + self.eps  # (4)
            if self.momentum:
                b = _buffer(self.momentum_buffer, key, p)
                b *= self.momentum
                b += g / d
                p -= self.lr * b  # (5)
            else:
                p -= self.lr * (g / d)  # (5)


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer, 2011) (torch.optim.Adagrad).

    lr: learning rate; lr_decay: the learning rate at step t is lr / (1 + (t - 1) * lr_decay);
    weight_decay: L2 penalty lambda added to the gradient; initial_accumulator_value: the
    starting value of the sum of squared gradients; eps: added to the denominator.
    """

    _scalars = ("lr", "t")

    def __init__(
        self,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        _check_non_negative(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        self.lr = float(lr)
        self.lr_decay = float(lr_decay)
        self.weight_decay = float(weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.eps = float(eps)
        self._buffers = ("state_sum",)
        self.t = 0  # steps taken; the decayed learning rate uses it
        self.state_sum: Arrays = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        """One update of every parameter, in place (s = state_sum).

        t = t + 1
        g = g + weight_decay * p                       (1) if weight_decay
        lr_t = lr / (1 + (t - 1) * lr_decay)           (2)
        s = s + g * g                                  (3) s starts at initial_accumulator_value
        p = p - lr_t * g / (sqrt(s) + eps)             (4)
        """
        _check_keys(params, grads)
        self.t += 1
        lr_t = self.lr / (1 + (self.t - 1) * self.lr_decay)  # (2)
        for key, p in params.items():
            g = grads[key]
            if self.weight_decay:
                g = g + self.weight_decay * p  # (1)
            s = _buffer(self.state_sum, key, p, self.initial_accumulator_value)
            s += g * g  # (3)
            p -= lr_t * (g / (np.sqrt(s) + self.eps))  # (4)


def _buffer(buffers: Arrays, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The buffer of key; on first use an array shaped and typed like the parameter, = fill."""
    if key not in buffers:
        buffers[key] = np.full_like(like, fill)
    return buffers[key]


def _check_keys(params: Arrays, grads: Arrays) -> None:
    if params.keys() != grads.keys():
        raise ValueError(
            "params and grads must have the same keys; only in params: "
            f"{sorted(params.keys() - grads.keys())}, only in grads: "
            f"{sorted(grads.keys() - params.keys())}"
        )


def _check_non_negative(**hyperparameters: float) -> None:
    for name, value in hyperparameters.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
