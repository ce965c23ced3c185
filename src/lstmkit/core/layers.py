"""LSTM, GRU, LSTMCell and GRUCell: thin stateful shells with torch.nn's shapes.

A layer holds `params` (a flat dict of arrays), `grads` (same keys and shapes, written by
`backward`), its options, and the tape of the last train-mode forward pass. All the math
is in the cells (core.lstm, core.gru) and the runner (core.sequence, core.stack).

Parameter keys: "l{k}.W_x", "l{k}.W_h", "l{k}.b" (GRU: "l{k}.b_x", "l{k}.b_h"),
"l{k}.P" with peepholes; the reverse direction of layer k uses the prefix "l{k}_reverse".
The cells use "W_x", "W_h", ... without a prefix. Layouts: core.lstm and core.gru.
"""

import numpy as np

from lstmkit.core.checks import check_array, shape_text, valid_steps
from lstmkit.core.gru import GRUStep
from lstmkit.core.lstm import LSTMStep
from lstmkit.core.stack import stack_backward, stack_forward


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _pack(step, arrays):
    """A state in torch's form: (h, c) for the LSTM, h alone for the GRU."""
    return tuple(arrays) if len(step.State._fields) > 1 else arrays[0]


def _unpack(step, state, names, argument):
    """A state in torch's form as a list of arrays, one per state field."""
    n = len(step.State._fields)
    if n == 1:
        return [state]
    if not isinstance(state, (tuple, list)) or len(state) != n:
        got = f"{len(state)}-tuple" if isinstance(state, (tuple, list)) else type(state).__name__
        raise ValueError(f"{argument} must be a tuple ({', '.join(names)}), got {got}")
    return list(state)


class _Stack:
    """The shared shell of LSTM and GRU: a stack of layers and directions of one cell."""

    _state_names: tuple

    def __init__(self, step, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, dtype, seed, init_options):
        self.step = step
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        self.dtype = _float_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.num_directions = 2 if bidirectional else 1
        self.prefixes = [f"l{l}{'_reverse' if d else ''}" for l in range(self.num_layers)
                         for d in range(self.num_directions)]
        self.params = {}
        for k, prefix in enumerate(self.prefixes):
            layer_input = self.input_size if k < self.num_directions else (
                self.num_directions * self.hidden_size)
            run = step.init_params(layer_input, self.hidden_size, self.rng, self.dtype,
                                   bias=self.bias, **init_options)
            self.params.update({f"{prefix}.{name}": value for name, value in run.items()})
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.training = True
        self._tape = None

    def train(self):
        """Train mode: dropout between layers is on and forward keeps a tape for backward."""
        self.training = True
        return self

    def eval(self):
        """Eval mode: no dropout, no tape kept."""
        self.training = False
        self._tape = None
        return self

    def _run_params(self):
        runs = [{} for _ in self.prefixes]
        index = {prefix: k for k, prefix in enumerate(self.prefixes)}
        for key, value in self.params.items():
            prefix, name = key.split(".", 1)
            runs[index[prefix]][name] = value
        return runs

    def _user_layout(self, A, unbatched):
        """(T, N, F) time-major -> the caller's layout."""
        if unbatched:
            return A[:, 0]
        return A.transpose(1, 0, 2) if self.batch_first else A

    def _shape(self, unbatched, N, T, F):
        if unbatched:
            return (T, F)
        return (N, T, F) if self.batch_first else (T, N, F)

    def _states(self, name_state, state, N, unbatched):
        """Per-run cell states from a state in torch's shape (num_layers * dirs, N, H)."""
        K, H = len(self.prefixes), self.hidden_size
        if state is None:
            return [self.step.initial_state(N, H, self.dtype) for _ in self.prefixes]
        arrays = []
        argument = "dstate" if name_state else "state"
        for name, A in zip(self._state_names,
                           _unpack(self.step, state, self._state_names, argument), strict=True):
            shape = (K, H) if unbatched else (K, N, H)
            A = check_array(f"{name_state}{name}", A, dtype=self.dtype, shape=shape)
            arrays.append(A[:, None] if unbatched else A)
        return [self.step.State(*(A[k] for A in arrays)) for k in range(K)]

    def _torch_state(self, states, unbatched, fresh=False):
        """Per-run states -> torch's shape (num_layers * dirs, N, H). fresh: the states'
        arrays are new and referenced nowhere else (BPTT's gradients), so a single run's are
        returned as views; else copied (the forward's final state is a view of Y's last step
        and of what BPTT reads). np.stack of one run took 120-170 us cold for (h, c) in
        mnist's step, the views 20, the copies 70-95."""
        if len(states) == 1:
            arrays = [A[None] if fresh else A[None].copy() for A in states[0]]
        else:
            arrays = [np.stack(run) for run in zip(*states, strict=True)]
        return _pack(self.step, [A[:, 0] if unbatched else A for A in arrays])

    def forward(self, X, state=None, *, lengths=None, mask=None):
        """Run the stack over X: returns (Y, state) in torch.nn.LSTM / GRU's shapes.

        X (T, N, D), or (N, T, D) with batch_first, or (T, D) unbatched. state: the initial
        state, (h_0, c_0) for the LSTM and h_0 for the GRU, each (num_layers * num_directions,
        N, H); zeros if None. lengths (N,) for right padding, or mask (N, T) bool for padding
        on either side. Y (T, N, num_directions * H) in X's layout, 0 at padded steps; the
        final state is taken after each sequence's last valid step.
        """
        X = np.asarray(X)
        if X.ndim not in (2, 3):
            raise ValueError(f"X has shape {X.shape}, expected "
                             f"{shape_text(self._shape(False, 'N', 'T', self.input_size))} "
                             f"or (T, {self.input_size}) unbatched")
        unbatched = X.ndim == 2
        shape = self._shape(unbatched, "N", "T", self.input_size)
        X = check_array("X", X, dtype=self.dtype, shape=shape)
        X = X[:, None] if unbatched else (X.transpose(1, 0, 2) if self.batch_first else X)
        T, N = X.shape[:2]
        if T == 0:
            raise ValueError("X has 0 time steps; give at least one step per sequence")
        valid = valid_steps(lengths, mask, N, T)
        states = self._states("", state, N, unbatched)
        Y, final, tape = stack_forward(self.step, self._run_params(), np.ascontiguousarray(X),
                                       states, num_directions=self.num_directions, valid=valid,
                                       dropout=self.dropout, rng=self.rng, keep=self.training)
        self._tape = tape
        self._last = (unbatched, N, T)
        return self._user_layout(Y, unbatched), self._torch_state(final, unbatched)

    __call__ = forward

    def backward(self, dY, dstate=None, *, truncate=None):
        """Gradients for the last train-mode forward: returns (dX, dstate_0); sets self.grads.

        dY has Y's shape; dstate the gradient of the final state in the state's shape (None:
        zero). truncate=k cuts BPTT every k steps (torch's .detach() of the state every k
        steps). dX has X's shape, dstate_0 the initial state's.
        """
        if self._tape is None:
            raise RuntimeError("backward needs a forward pass in train mode first (call .train() "
                               "and forward again; each forward allows one backward)")
        unbatched, N, T = self._last
        F = self.num_directions * self.hidden_size
        dY = check_array("dY", dY, dtype=self.dtype, shape=self._shape(unbatched, N, T, F))
        dY = dY[:, None] if unbatched else (dY.transpose(1, 0, 2) if self.batch_first else dY)
        dstates = self._states("d", dstate, N, unbatched)
        if truncate is not None:
            truncate = _positive_int("truncate", truncate)
        dX, dstates0, grads = stack_backward(self.step, self._run_params(), dY, dstates,
                                             self._tape, num_directions=self.num_directions,
                                             truncate=truncate)
        self._tape = None
        runs = zip(self.prefixes, grads, strict=True)
        self.grads = {f"{prefix}.{name}": g for prefix, run in runs
                      for name, g in run.items()}
        return self._user_layout(dX, unbatched), self._torch_state(dstates0, unbatched, fresh=True)

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"batch_first={self.batch_first}, dtype={self.dtype}, step={self.step})")


class LSTM(_Stack):
    """Multi-layer, optionally bidirectional LSTM with torch.nn.LSTM's arguments and shapes.

    The options after * choose the variant (core.lstm): gate / candidate / cell activation
    by name, peephole, coupled input-forget gate, clip, and a constant forget-gate bias at
    initialisation (1.0 in Keras). dtype float32 (default) or float64; seed for the
    initialisation and dropout.
    """

    _state_names = ("h_0", "c_0")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, gate_activation="sigmoid",
                 candidate_activation="tanh", cell_activation="tanh", peephole=False,
                 coupled=False, clip=None, forget_bias=None, dtype=np.float32, seed=None):
        step = LSTMStep(gate_activation, candidate_activation, cell_activation, peephole,
                        coupled, clip)
        super().__init__(step, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, {"forget_bias": forget_bias})


class GRU(_Stack):
    """Multi-layer, optionally bidirectional GRU with torch.nn.GRU's arguments and shapes.

    linear_before_reset=True is torch's form (G3); False is ONNX's default form (G3').
    """

    _state_names = ("h_0",)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, gate_activation="sigmoid",
                 candidate_activation="tanh", linear_before_reset=True, dtype=np.float32,
                 seed=None):
        step = GRUStep(gate_activation, candidate_activation, linear_before_reset)
        super().__init__(step, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, {})


class _Cell:
    """The shared shell of LSTMCell and GRUCell: one step, torch.nn.LSTMCell's shapes."""

    _state_names: tuple

    def __init__(self, step, input_size, hidden_size, bias, dtype, seed, init_options):
        self.step = step
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        self.params = step.init_params(self.input_size, self.hidden_size, rng, self.dtype,
                                       bias=self.bias, **init_options)
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._cache = None

    def _state(self, name_prefix, state, N, unbatched):
        if state is None:
            return self.step.initial_state(N, self.hidden_size, self.dtype)
        shape = (self.hidden_size,) if unbatched else (N, self.hidden_size)
        arrays = [check_array(f"{name_prefix}{name}", A, dtype=self.dtype, shape=shape)
                  for name, A in zip(self._state_names,
                                     _unpack(self.step, state, self._state_names,
                                             "dstate" if name_prefix else "state"),
                                     strict=True)]
        return self.step.State(*(A[None] if unbatched else A for A in arrays))

    def forward(self, X, state=None):
        """One step. X (N, D) or (D,); state (h, c) / h, each (N, H) or (H,): the new state."""
        X = np.asarray(X)
        unbatched = X.ndim == 1
        shape = (self.input_size,) if unbatched else ("N", self.input_size)
        X = check_array("X", X, dtype=self.dtype, shape=shape)
        X = X[None] if unbatched else X
        state = self._state("", state, X.shape[0], unbatched)
        new_state, cache = self.step.step_forward(self.params,
                                                  self.step.input_projection(self.params, X),
                                                  state)
        self._cache = (X, cache, unbatched)
        return _pack(self.step, [A[0] if unbatched else A for A in new_state])

    __call__ = forward

    def backward(self, dstate):
        """Gradients of the last forward: returns (dX, dstate_prev); sets self.grads."""
        if self._cache is None:
            raise RuntimeError("backward needs a forward pass first")
        X, cache, unbatched = self._cache
        dstate = self._state("d", dstate, X.shape[0], unbatched)
        dXW, dHW, dprev = self.step.step_backward(self.params, dstate, cache)
        dX, self.grads = self.step.weight_grads(self.params, X[None], [cache], dXW[None],
                                                dHW[None])
        self._cache = None
        dX = dX[0, 0] if unbatched else dX[0]
        return dX, _pack(self.step, [A[0] if unbatched else A for A in dprev])


class LSTMCell(_Cell):
    """One LSTM step with torch.nn.LSTMCell's arguments; variant options as LSTM's."""

    _state_names = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, *, gate_activation="sigmoid",
                 candidate_activation="tanh", cell_activation="tanh", peephole=False,
                 coupled=False, clip=None, forget_bias=None, dtype=np.float32, seed=None):
        step = LSTMStep(gate_activation, candidate_activation, cell_activation, peephole,
                        coupled, clip)
        super().__init__(step, input_size, hidden_size, bias, dtype, seed,
                         {"forget_bias": forget_bias})


class GRUCell(_Cell):
    """One GRU step with torch.nn.GRUCell's arguments; variant options as GRU's."""

    _state_names = ("h",)

    def __init__(self, input_size, hidden_size, bias=True, *, gate_activation="sigmoid",
                 candidate_activation="tanh", linear_before_reset=True, dtype=np.float32,
                 seed=None):
        step = GRUStep(gate_activation, candidate_activation, linear_before_reset)
        super().__init__(step, input_size, hidden_size, bias, dtype, seed, {})
