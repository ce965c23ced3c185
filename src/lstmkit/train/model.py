"""The model container: optional token input, recurrent layers, a dense head and a loss.

    tokens ("embedding" | "onehot" | "none")  ->  LSTM / GRU stack  ->  head  ->  loss

Shapes are batch first: X (N, T, D) float features, or (N, T) integer token ids; the
output is (N, C) for the heads "last" (the top layer's state after each sequence's last
valid step, both directions concatenated) and "mean" (the mean of the top layer's outputs
over the valid steps), and (N, T, C) for "every" (one prediction per step; padded steps
are not scored). `params` and `grads` are flat dicts over all parts ("embedding.W",
"rnn.l0.W_x", "head.W", ...); the arrays in `params` are the parts' own, so an optimizer
updating them in place updates the model.

forward(X, state=...) starts the recurrent layers from a given state (torch's form: (h, c)
for LSTM cells, h for the GRU, each (L * dirs, N, H)) instead of zeros, and every forward
leaves the state it ended in as `final_state`: reading a long stream chunk by chunk with
state=model.final_state carries the state across, while backward stops at the chunk's start
(truncated BPTT, torch's .detach() of the state between chunks).
"""

from dataclasses import asdict, dataclass

import numpy as np

from lstmkit.core.checks import valid_steps
from lstmkit.core.dense import Dense
from lstmkit.core.embedding import Embedding, check_ids
from lstmkit.core.layers import GRU, LSTM
from lstmkit.core.losses import mae, mse, softmax_cross_entropy

CELLS = ("lstm", "gru", "peephole", "coupled")
TOKENS = ("none", "embedding", "onehot")
HEADS = ("last", "mean", "every")
LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mse, "mae": mae}


@dataclass(frozen=True)
class ModelConfig:
    """What a SequenceModel is made of. Defaults: the article's MNIST model."""

    input_size: int = 28  # D features per step, or the vocabulary size V for token input
    output_size: int = 10  # classes (cross_entropy) or predicted values (mse)
    hidden_size: int = 128  # H units per recurrent layer
    num_layers: int = 1  # stacked recurrent layers
    cell: str = "lstm"  # lstm | gru | peephole | coupled
    bidirectional: bool = False  # a second, reversed run per layer
    dropout: float = 0.0  # between recurrent layers, train mode only
    tokens: str = "none"  # none: float features; embedding | onehot: integer token ids
    embedding_dim: int = 32  # E, used with tokens="embedding"
    head: str = "last"  # last | mean | every (see the module docstring)
    loss: str = "cross_entropy"  # cross_entropy | mse | mae
    gate_activation: str = "sigmoid"  # any name of core.activations
    candidate_activation: str = "tanh"
    cell_activation: str = "tanh"  # LSTM cells only
    forget_bias: float | None = None  # LSTM b_f at initialisation (Keras uses 1.0)
    dtype: str = "float32"  # float32 | float64

    def __post_init__(self):
        for field, value, choices in (("cell", self.cell, CELLS), ("tokens", self.tokens, TOKENS),
                                      ("head", self.head, HEADS), ("loss", self.loss, LOSSES),
                                      ("dtype", self.dtype, ("float32", "float64"))):
            if value not in choices:
                raise ValueError(f"unknown {field} {value!r}; choose one of: {', '.join(choices)}")


class SequenceModel:
    """A recurrent sequence model built from a ModelConfig; seed fixes its initialisation."""

    def __init__(self, config: ModelConfig, seed=0):
        self.config = c = config
        self.dtype = np.dtype(c.dtype)
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**63, size=3)
        self.embedding = None
        rnn_input = c.input_size
        if c.tokens == "embedding":
            self.embedding = Embedding(c.input_size, c.embedding_dim, dtype=self.dtype,
                                       seed=seeds[0])
            rnn_input = c.embedding_dim
        common = dict(num_layers=c.num_layers, batch_first=True, dropout=c.dropout,
                      bidirectional=c.bidirectional, gate_activation=c.gate_activation,
                      candidate_activation=c.candidate_activation, dtype=self.dtype,
                      seed=seeds[1])
        if c.cell == "gru":
            self.rnn = GRU(rnn_input, c.hidden_size, **common)
        else:
            self.rnn = LSTM(rnn_input, c.hidden_size, cell_activation=c.cell_activation,
                            peephole=c.cell == "peephole", coupled=c.cell == "coupled",
                            forget_bias=c.forget_bias, **common)
        directions = 2 if c.bidirectional else 1
        self.head = Dense(directions * c.hidden_size, c.output_size, dtype=self.dtype,
                          seed=seeds[2])
        self.params = {f"{name}.{key}": value for name, part in self._parts()
                       for key, value in part.params.items()}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._last = None
        self.final_state = None  # the recurrent state the last forward ended in

    def _parts(self):
        parts = [("rnn", self.rnn), ("head", self.head)]
        return ([("embedding", self.embedding)] if self.embedding else []) + parts

    def _rnn_input(self, X):
        c = self.config
        if c.tokens == "none":
            return X
        ids = check_ids(X, c.input_size)
        if ids.ndim != 2:
            raise ValueError(f"token ids have shape {ids.shape}, expected (N, T)")
        if c.tokens == "embedding":
            return self.embedding(ids)
        return np.eye(c.input_size, dtype=self.dtype)[ids]  # one-hot (N, T, V)

    def forward(self, X, *, lengths=None, mask=None, train=True, state=None):
        """The model's output for X: (N, C) for the heads last / mean, (N, T, C) for every.
        state: the initial recurrent state (None: zeros); the final one is kept in final_state."""
        self.rnn.train() if train else self.rnn.eval()
        inputs = self._rnn_input(X)
        outputs, state = self.rnn.forward(inputs, state, lengths=lengths,
                                          mask=mask)  # (N, T, dirs*H)
        self.final_state = state
        n, steps = outputs.shape[:2]
        valid = valid_steps(lengths, mask, n, steps)
        valid = np.ones((n, steps), bool) if valid is None else valid.T  # (N, T)
        head = self.config.head
        if head == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (L * dirs, N, H)
            top = h_n[-self.rnn.num_directions:]
            features = np.concatenate(list(top), axis=1)  # (N, dirs * H)
        elif head == "mean":
            counts = np.maximum(valid.sum(axis=1, keepdims=True), 1).astype(self.dtype)  # (N, 1)
            features = outputs.sum(axis=1) / counts
        else:
            features = outputs
        output = self.head.forward(features)
        self._last = (valid, outputs.shape, counts if head == "mean" else None) if train else None
        return output

    __call__ = forward

    def loss(self, output, targets):
        """(loss, its gradient by output); with the head "every", padded steps are left out."""
        valid = self._last[0] if self._last is not None else None
        loss_fn = LOSSES[self.config.loss]
        if self.config.head != "every" or valid is None or valid.all():
            return loss_fn(output, targets)
        targets = np.asarray(targets)
        loss, d_scored = loss_fn(output[valid], targets[valid])
        d_output = np.zeros_like(output)
        d_output[valid] = d_scored
        return loss, d_output

    def backward(self, d_output):
        """Gradients of every parameter for the last train forward; sets self.grads."""
        if self._last is None:
            raise RuntimeError("backward needs a forward pass with train=True first")
        valid, outputs_shape, counts = self._last
        d_features = self.head.backward(d_output)
        rnn, head = self.rnn, self.config.head
        dstate = None
        if head == "last":
            d_outputs = np.zeros(outputs_shape, self.dtype)
            d_h = np.zeros((rnn.num_layers * rnn.num_directions, outputs_shape[0],
                            rnn.hidden_size), self.dtype)
            d_h[-rnn.num_directions:] = np.stack(np.split(d_features, rnn.num_directions, axis=1))
            dstate = (d_h, np.zeros_like(d_h)) if isinstance(rnn, LSTM) else d_h
        elif head == "mean":
            d_mean = (d_features / counts)[:, None, :]  # (N, 1, dirs * H)
            d_outputs = np.where(valid[:, :, None], d_mean, 0).astype(self.dtype)
        else:
            d_outputs = d_features
        d_inputs, _ = rnn.backward(d_outputs, dstate)
        if self.embedding is not None:
            self.embedding.backward(d_inputs)
        self.grads = {f"{name}.{key}": value for name, part in self._parts()
                      for key, value in part.grads.items()}
        self._last = None

    def predict(self, X, *, lengths=None, mask=None, batch_size=512):
        """Outputs for X in batches of batch_size, in eval mode, keeping no caches."""
        outputs = []
        for start in range(0, len(X), batch_size):
            part = slice(start, start + batch_size)
            outputs.append(self.forward(
                X[part], lengths=None if lengths is None else np.asarray(lengths)[part],
                mask=None if mask is None else np.asarray(mask)[part], train=False))
        return np.concatenate(outputs)

    def config_dict(self):
        """The config as a plain dict (JSON-ready)."""
        return asdict(self.config)
