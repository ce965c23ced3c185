"""Stacked and bidirectional recurrent layers on top of the sequence runner.

A stack has L layers of `num_directions` (1 or 2) runs each; run k = l * num_directions + d
has its own parameters params[k] and initial state states[k]. Layer 0 reads X (T, N, D);
layer l > 0 reads the concatenated outputs of layer l - 1 (T, N, num_directions * H),
after dropout in train mode (torch.nn.LSTM's rule: not after the last layer). The reverse
direction (d = 1) runs the steps from the last valid one down to the first.
"""

from typing import NamedTuple

import numpy as np

from lstmkit.core.dropout import dropout_backward, dropout_forward
from lstmkit.core.sequence import bptt, unroll


class StackTape(NamedTuple):
    """What a stacked forward pass keeps for its backward pass."""

    tapes: list  # one sequence.Tape per run
    dropout_masks: list  # per layer l > 0: the dropout mask applied to its input, or None


def stack_forward(step, params, X, states, *, num_directions, valid=None, dropout=0.0,
                  rng=None, keep=True):
    """Run all layers and directions. Returns (Y (T, N, num_directions * H), states, tape).

    Dropout between layers applies when keep=True (train mode) and dropout > 0.
    """
    num_layers = len(params) // num_directions
    tapes, masks, final_states = [], [], []
    layer_input = X
    for l in range(num_layers):
        if l > 0:
            M = None
            if keep and dropout > 0:
                layer_input, M = dropout_forward(layer_input, dropout, rng)
            masks.append(M)
        outputs = []
        for d in range(num_directions):
            k = l * num_directions + d
            Y, state, tape = unroll(step, params[k], layer_input, states[k], valid=valid,
                                    reverse=d == 1, keep=keep)
            outputs.append(Y)
            final_states.append(state)
            tapes.append(tape)
        layer_input = outputs[0] if num_directions == 1 else np.concatenate(outputs, axis=2)
    return layer_input, final_states, (StackTape(tapes, masks) if keep else None)


def stack_backward(step, params, dY, dstates, tape, *, num_directions, truncate=None):
    """BPTT through all layers, last first. dY (T, N, num_directions * H); dstates one per run.

    Returns (dX (T, N, D), the gradients of the initial states, grads: one dict per run).
    """
    num_layers = len(params) // num_directions
    dstates0, grads = [None] * len(params), [None] * len(params)
    d_output = dY
    for l in reversed(range(num_layers)):
        H = d_output.shape[2] // num_directions
        d_input = None
        for d in range(num_directions):
            k = l * num_directions + d
            dX, dstates0[k], grads[k] = bptt(step, params[k], d_output[:, :, d * H:(d + 1) * H],
                                             dstates[k], tape.tapes[k], truncate=truncate)
            d_input = dX if d_input is None else d_input + dX
        if l > 0 and tape.dropout_masks[l - 1] is not None:
            d_input = dropout_backward(d_input, tape.dropout_masks[l - 1])
        d_output = d_input
    return d_output, dstates0, grads
