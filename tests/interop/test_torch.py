"""interop.torch: from_torch / to_torch, and lstmkit against torch.nn on the same weights.

Every comparison builds the torch module, converts it with from_torch and checks outputs,
final states and the gradients of every parameter, of the input and of the initial state.
Error per tensor: max|a - b| / max(max|b|, 1e-8), at most 1e-5 in float32, 1e-10 in float64.
Losses are random projections of Y and of the final states, never sum(Y); sizes are all
distinct; initial states, when given, are random and non-zero.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.core.layers import GRU, LSTM, GRUCell, LSTMCell
from lstmkit.interop import layout
from lstmkit.interop.torch import from_torch, to_torch

N, T, D, H = 3, 7, 4, 5
TOL = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "lstm_cell": nn.LSTMCell, "gru_cell": nn.GRUCell}
DTYPES = [np.float32, np.float64]
STATE_NAMES = ("h", "c")


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread: fastest for these tiny sizes, and no oversubscription on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rel_error(a, b):
    """max|a - b| / max(max|b|, 1e-8), computed in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-8))


def check(ours, reference, dtype, what):
    """lstmkit's `ours` against `reference` (an array or a torch tensor) within TOL[dtype]."""
    if isinstance(reference, torch.Tensor):
        reference = reference.detach().numpy()
    assert ours.shape == reference.shape, f"{what}: shape {ours.shape} != {reference.shape}"
    error = rel_error(ours, reference)
    assert error <= TOL[dtype], f"{what}: error {error:.3g} > {TOL[dtype]}"


def check_state(state, reference, dtype, what):
    """Each array of a state, (h, c) or h, against the reference's (a state or a list)."""
    ours, references = as_list(state), as_list(reference)
    assert len(ours) == len(references), what
    for name, A, B in zip(STATE_NAMES[: len(ours)], ours, references, strict=True):
        check(A, B, dtype, f"{what} {name}")


def torch_module(kind, dtype, **options):
    """A torch module with torch's own random initialisation (seeded)."""
    torch.manual_seed(0)
    return MODULES[kind](D, H, dtype=TORCH_DTYPE[dtype], **options)


def n_state(kind):
    """How many arrays make a state: (h, c) for the LSTM, h for the GRU."""
    return 2 if kind.startswith("lstm") else 1


def random_arrays(rng, count, shape, dtype):
    return [rng.standard_normal(shape).astype(dtype) for _ in range(count)]


def as_state(arrays):
    """A list of state arrays (or tensors) in torch's / lstmkit's form: (h, c) or h."""
    return tuple(arrays) if len(arrays) == 2 else arrays[0]


def as_list(state):
    """The arrays of a state in either form, or of a list of them, as a list."""
    return list(state) if isinstance(state, (tuple, list)) else [state]


def leaf(array):
    """A torch leaf tensor with a copy of `array`, collecting its gradient."""
    return torch.from_numpy(array.copy()).requires_grad_()


def projection_loss(Y, state, R_Y, R_state):
    """sum(Y * R_Y) + sum over the state arrays of sum(S * R_S), in torch."""
    loss = (Y * torch.from_numpy(R_Y)).sum()
    for S, R in zip(as_list(state), R_state, strict=True):
        loss = loss + (S * torch.from_numpy(R)).sum()
    return loss


def suffixes(module):
    """Torch's parameter-name suffix of every run of the module."""
    if isinstance(module, nn.RNNCellBase):
        return [""]
    directions = ["", "_reverse"] if module.bidirectional else [""]
    return [f"_l{k}{d}" for k in range(module.num_layers) for d in directions]


def check_param_grads(layer, module, dtype, grads=None):
    """layer.grads (or `grads`), mapped to torch's layout by interop.layout, against .grad.

    The LSTM's db maps to bias_ih; torch's gradients of bias_ih and bias_hh are both db.
    """
    grads = layer.grads if grads is None else grads
    lstm = isinstance(module, (nn.LSTM, nn.LSTMCell))
    to_torch_layout = layout.lstm_to_torch if lstm else layout.gru_to_torch
    for suffix in suffixes(module):
        prefix = f"{suffix[1:]}." if suffix else ""
        run = {k[len(prefix):]: g for k, g in grads.items() if k.startswith(prefix)}
        mapped = to_torch_layout(run)
        expected = {name for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                    if getattr(module, name + suffix, None) is not None}
        assert set(mapped) == expected
        for name in mapped:
            ours = mapped["bias_ih"] if lstm and name == "bias_hh" else mapped[name]
            check(ours, getattr(module, name + suffix).grad, dtype, f"grad {name}{suffix}")


def batch_rows(A, rows, batch_first):
    """The rows `rows` of the batch axis of A (axis 0 with batch_first, else 1)."""
    return A[rows] if batch_first else A[:, rows]


# ----------------------------------------------------------------------------- stacks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stack_matches_torch(kind, num_layers, bidirectional, batch_first, with_state, bias,
                             dtype):
    module = torch_module(kind, dtype, num_layers=num_layers, bias=bias,
                          batch_first=batch_first, bidirectional=bidirectional)
    layer = from_torch(module)
    rng = np.random.default_rng(10)
    K, F = num_layers * (1 + bidirectional), (1 + bidirectional) * H
    X = rng.standard_normal((N, T, D) if batch_first else (T, N, D)).astype(dtype)
    state0 = random_arrays(rng, n_state(kind), (K, N, H), dtype) if with_state else None
    R_Y = rng.standard_normal((N, T, F) if batch_first else (T, N, F)).astype(dtype)
    R_state = random_arrays(rng, n_state(kind), (K, N, H), dtype)

    X_t = leaf(X)
    state0_t = [leaf(A) for A in state0] if with_state else None
    Y_t, state_t = module(X_t, as_state(state0_t) if with_state else None)
    projection_loss(Y_t, state_t, R_Y, R_state).backward()

    Y, state = layer(X, as_state(state0) if with_state else None)
    dX, dstate0 = layer.backward(R_Y, as_state(R_state))

    check(Y, Y_t, dtype, "Y")
    check_state(state, state_t, dtype, "final state")
    check(dX, X_t.grad, dtype, "dX")
    if with_state:
        check_state(dstate0, [S.grad for S in state0_t], dtype, "dstate_0")
    check_param_grads(layer, module, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_unbatched_input_matches_torch(kind, bidirectional, batch_first, with_state, dtype):
    num_layers = 2
    module = torch_module(kind, dtype, num_layers=num_layers, batch_first=batch_first,
                          bidirectional=bidirectional)
    layer = from_torch(module)
    rng = np.random.default_rng(11)
    K, F = num_layers * (1 + bidirectional), (1 + bidirectional) * H
    X = rng.standard_normal((T, D)).astype(dtype)  # (T, D) whatever batch_first says
    state0 = random_arrays(rng, n_state(kind), (K, H), dtype) if with_state else None
    R_Y = rng.standard_normal((T, F)).astype(dtype)
    R_state = random_arrays(rng, n_state(kind), (K, H), dtype)

    X_t = leaf(X)
    state0_t = [leaf(A) for A in state0] if with_state else None
    Y_t, state_t = module(X_t, as_state(state0_t) if with_state else None)
    projection_loss(Y_t, state_t, R_Y, R_state).backward()

    Y, state = layer(X, as_state(state0) if with_state else None)
    dX, dstate0 = layer.backward(R_Y, as_state(R_state))

    check(Y, Y_t, dtype, "Y")
    check_state(state, state_t, dtype, "final state")
    check(dX, X_t.grad, dtype, "dX")
    if with_state:
        check_state(dstate0, [S.grad for S in state0_t], dtype, "dstate_0")
    check_param_grads(layer, module, dtype)


# ----------------------------------------------------------------------------- cells


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kind", ["lstm_cell", "gru_cell"])
def test_cell_matches_torch(kind, batched, with_state, bias, dtype):
    module = torch_module(kind, dtype, bias=bias)
    layer = from_torch(module)
    rng = np.random.default_rng(12)
    batch = (N,) if batched else ()
    X = rng.standard_normal((*batch, D)).astype(dtype)
    state0 = random_arrays(rng, n_state(kind), (*batch, H), dtype) if with_state else None
    R_state = random_arrays(rng, n_state(kind), (*batch, H), dtype)

    X_t = leaf(X)
    state0_t = [leaf(A) for A in state0] if with_state else None
    state_t = module(X_t, as_state(state0_t) if with_state else None)
    loss = sum((S * torch.from_numpy(R)).sum() for S, R in zip(as_list(state_t), R_state,
                                                                   strict=True))
    loss.backward()

    state = layer(X, as_state(state0) if with_state else None)
    dX, dstate0 = layer.backward(as_state(R_state))

    check_state(state, state_t, dtype, "new state")
    check(dX, X_t.grad, dtype, "dX")
    if with_state:
        check_state(dstate0, [S.grad for S in state0_t], dtype, "dstate_prev")
    check_param_grads(layer, module, dtype)


# ----------------------------------------------------------------------------- padding


@pytest.mark.parametrize("lengths", [[7, 3, 0, 5, 1, 6], [6, 0, 2, 4, 1, 3]])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_right_padding_matches_packed_sequences(kind, num_layers, bidirectional, batch_first,
                                                dtype, lengths):
    """lengths= against pack_padded_sequence(enforce_sorted=False) on the non-empty rows.

    Torch refuses a sequence of length 0; for lstmkit its Y is 0, its final state its
    initial state, and its gradients dX = 0 and dstate_0 = dstate. The parameter gradients
    then equal torch's on the other rows.
    """
    module = torch_module(kind, dtype, num_layers=num_layers, batch_first=batch_first,
                          bidirectional=bidirectional)
    layer = from_torch(module)
    rng = np.random.default_rng(13)
    lengths = np.array(lengths)
    n = len(lengths)  # 6: a larger batch for more lengths
    K, F = num_layers * (1 + bidirectional), (1 + bidirectional) * H
    X = rng.standard_normal((n, T, D) if batch_first else (T, n, D)).astype(dtype)
    state0 = random_arrays(rng, n_state(kind), (K, n, H), dtype)
    R_Y = rng.standard_normal((n, T, F) if batch_first else (T, n, F)).astype(dtype)
    R_state = random_arrays(rng, n_state(kind), (K, n, H), dtype)

    Y, state = layer(X, as_state(state0), lengths=lengths)
    dX, dstate0 = layer.backward(R_Y, as_state(R_state))

    rows = lengths > 0
    X_t = leaf(batch_rows(X, rows, batch_first))
    state0_t = [leaf(A[:, rows]) for A in state0]
    packed = pack_padded_sequence(X_t, lengths[rows].tolist(), batch_first=batch_first,
                                  enforce_sorted=False)
    out, state_t = module(packed, as_state(state0_t))
    Y_t, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    loss = projection_loss(Y_t, state_t, batch_rows(R_Y, rows, batch_first),
                           [R[:, rows] for R in R_state])
    loss.backward()

    check(batch_rows(Y, rows, batch_first), Y_t, dtype, "Y")  # 0 at padded steps on both
    check_state([S[:, rows] for S in as_list(state)], state_t, dtype, "final state")
    check(batch_rows(dX, rows, batch_first), X_t.grad, dtype, "dX")
    check_state([dS[:, rows] for dS in as_list(dstate0)], [S.grad for S in state0_t], dtype,
                "dstate_0")
    check_param_grads(layer, module, dtype)

    empty = ~rows
    assert not batch_rows(Y, empty, batch_first).any()
    assert not batch_rows(dX, empty, batch_first).any()
    for S, S0, dS, R in zip(as_list(state), state0, as_list(dstate0), R_state, strict=True):
        np.testing.assert_array_equal(S[:, empty], S0[:, empty])
        np.testing.assert_array_equal(dS[:, empty], R[:, empty])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_left_padding_matches_each_sequence_alone(kind, num_layers, bidirectional, batch_first,
                                                  dtype):
    """mask= with padding on the left against each sequence run alone, unpadded, by
    lstmkit itself and by torch; the parameter gradients are the sums over the sequences."""
    module = torch_module(kind, dtype, num_layers=num_layers, batch_first=batch_first,
                          bidirectional=bidirectional)
    layer = from_torch(module)
    alone = from_torch(module)
    rng = np.random.default_rng(14)
    lengths = [7, 2, 4]
    mask = np.arange(T)[None, :] >= T - np.array(lengths)[:, None]  # (N, T), valid at the end
    K, F = num_layers * (1 + bidirectional), (1 + bidirectional) * H
    X = rng.standard_normal((N, T, D) if batch_first else (T, N, D)).astype(dtype)
    state0 = random_arrays(rng, n_state(kind), (K, N, H), dtype)
    R_Y = rng.standard_normal((N, T, F) if batch_first else (T, N, F)).astype(dtype)
    R_state = random_arrays(rng, n_state(kind), (K, N, H), dtype)

    Y, state = layer(X, as_state(state0), mask=mask)
    dX, dstate0 = layer.backward(R_Y, as_state(R_state))

    def one(A, n, steps):
        """Row n of A at `steps` as a batch of one, in A's layout."""
        return A[n : n + 1, steps] if batch_first else A[steps, n : n + 1]

    alone_grads = {name: np.zeros_like(g) for name, g in layer.grads.items()}
    for n, length in enumerate(lengths):
        valid, padded = slice(T - length, T), slice(0, T - length)
        assert not one(Y, n, padded).any()
        assert not one(dX, n, padded).any()
        X_n, R_Y_n = one(X, n, valid), one(R_Y, n, valid)
        state0_n = [A[:, n : n + 1] for A in state0]
        R_state_n = [R[:, n : n + 1] for R in R_state]

        Y_n, state_n = alone(X_n, as_state(state0_n))  # lstmkit on the sequence alone
        dX_n, dstate0_n = alone.backward(R_Y_n, as_state(R_state_n))
        for name, g in alone.grads.items():
            alone_grads[name] += g

        X_t = leaf(X_n)  # torch on the sequence alone; its .grad sums over the sequences
        state0_t = [leaf(A) for A in state0_n]
        Y_t, state_t = module(X_t, as_state(state0_t))
        projection_loss(Y_t, state_t, R_Y_n, R_state_n).backward()

        for reference in (Y_n, Y_t):
            check(one(Y, n, valid), reference, dtype, f"Y row {n}")
        for reference in (dX_n, X_t.grad):
            check(one(dX, n, valid), reference, dtype, f"dX row {n}")
        for S, S_n, S_t in zip(as_list(state), as_list(state_n), as_list(state_t),
                               strict=True):
            check(S[:, n : n + 1], S_n, dtype, f"state row {n}")
            check(S[:, n : n + 1], S_t, dtype, f"state row {n}")
        for dS, dS_n, S_t in zip(as_list(dstate0), as_list(dstate0_n), state0_t, strict=True):
            check(dS[:, n : n + 1], dS_n, dtype, f"dstate_0 row {n}")
            check(dS[:, n : n + 1], S_t.grad, dtype, f"dstate_0 row {n}")
    for name, g in layer.grads.items():
        check(g, alone_grads[name], dtype, f"grad {name} against lstmkit alone")
    check_param_grads(layer, module, dtype)


# ----------------------------------------------------------------------------- truncated BPTT


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize(("kind", "num_layers"), [("lstm", 1), ("gru", 1), ("lstm", 2)])
def test_truncated_bptt_matches_torch_detach_every_k_steps(kind, num_layers, k, dtype):
    """backward(truncate=k) against torch run in chunks of k steps, the state .detach()ed
    between chunks (k = T: one chunk, full BPTT)."""
    module = torch_module(kind, dtype, num_layers=num_layers)
    layer = from_torch(module)
    rng = np.random.default_rng(15)
    X = rng.standard_normal((T, N, D)).astype(dtype)
    state0 = random_arrays(rng, n_state(kind), (num_layers, N, H), dtype)
    R_Y = rng.standard_normal((T, N, H)).astype(dtype)
    R_state = random_arrays(rng, n_state(kind), (num_layers, N, H), dtype)

    X_t = leaf(X)
    state0_t = [leaf(A) for A in state0]
    state_t, chunks = as_state(state0_t), []
    for start in range(0, T, k):
        if start > 0:
            state_t = as_state([S.detach() for S in as_list(state_t)])
        Y_chunk, state_t = module(X_t[start : start + k], state_t)
        chunks.append(Y_chunk)
    Y_t = torch.cat(chunks)
    projection_loss(Y_t, state_t, R_Y, R_state).backward()

    Y, state = layer(X, as_state(state0))
    dX, dstate0 = layer.backward(R_Y, as_state(R_state), truncate=k)

    check(Y, Y_t, dtype, "Y")
    check_state(state, state_t, dtype, "final state")
    check(dX, X_t.grad, dtype, "dX")
    check_state(dstate0, [S.grad for S in state0_t], dtype, "dstate_0")
    check_param_grads(layer, module, dtype)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_cell", "gru_cell"])
def test_round_trip_reproduces_the_module(kind, dtype):
    cell = kind.endswith("_cell")
    options = {} if cell else {"num_layers": 2, "batch_first": True, "bidirectional": True,
                               "dropout": 0.25}
    module = torch_module(kind, dtype, **options)
    layer = from_torch(module)
    assert layer.dtype == dtype
    for name, value in options.items():
        assert getattr(layer, name) == value
    back = to_torch(layer)
    assert type(back) is type(module)
    for name in ("input_size", "hidden_size", "bias", *options):
        assert getattr(back, name) == getattr(module, name)
    params, back_params = dict(module.named_parameters()), dict(back.named_parameters())
    assert set(back_params) == set(params)
    assert all(p.dtype == TORCH_DTYPE[dtype] for p in back_params.values())
    for name, p in params.items():
        if kind.startswith("lstm") and name.startswith("bias"):
            continue  # the LSTM keeps the sum of its two biases, checked below
        assert torch.equal(back_params[name], p), name
    if kind.startswith("lstm"):
        for suffix in suffixes(module):
            bias_sum = params[f"bias_ih{suffix}"] + params[f"bias_hh{suffix}"]
            assert torch.equal(back_params[f"bias_ih{suffix}"], bias_sum)
            assert not back_params[f"bias_hh{suffix}"].any()

    rng = np.random.default_rng(16)
    X = torch.from_numpy(rng.standard_normal((N, D) if cell else (N, T, D)).astype(dtype))
    module.eval(), back.eval()  # no dropout
    with torch.no_grad():
        for out, out_back in zip(as_list(module(X)), as_list(back(X)), strict=True):
            for A, A_back in zip(as_list(out), as_list(out_back), strict=True):
                check(A_back.numpy(), A, dtype, "output after the round trip")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_cell", "gru_cell"])
def test_to_torch_computes_what_the_layer_computes(kind, dtype):
    """lstmkit -> torch: same outputs; and back to lstmkit, the very same parameters."""
    cell = kind.endswith("_cell")
    lstmkit_type = {"lstm": LSTM, "gru": GRU, "lstm_cell": LSTMCell, "gru_cell": GRUCell}[kind]
    options = {} if cell else {"num_layers": 3, "bidirectional": True}
    layer = lstmkit_type(D, H, dtype=dtype, seed=17, **options)
    module = to_torch(layer)
    for p in module.parameters():
        assert p.dtype == TORCH_DTYPE[dtype]
    again = from_torch(module)
    assert set(again.params) == set(layer.params)
    for name, value in layer.params.items():
        assert again.params[name].dtype == dtype
        np.testing.assert_array_equal(again.params[name], value)

    rng = np.random.default_rng(18)
    X = rng.standard_normal((N, D) if cell else (T, N, D)).astype(dtype)
    with torch.no_grad():
        out_t = module(torch.from_numpy(X))
    out = layer(X)
    for A, A_t in zip(as_list(out), as_list(out_t), strict=True):
        for B, B_t in zip(as_list(A), as_list(A_t), strict=True):
            check(B, B_t, dtype, "output")


def test_from_torch_copies_the_weights():
    module = nn.LSTM(1, H)  # D = 1: weight_ih^T is contiguous, still it must be a copy
    layer = from_torch(module)
    before = {name: value.copy() for name, value in layer.params.items()}
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    for name, value in layer.params.items():
        np.testing.assert_array_equal(value, before[name])


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("make", "match"), [
    (lambda: nn.LSTM(D, H, proj_size=2), "proj_size=2"),
    (lambda: nn.RNN(D, H), "nn.LSTM, nn.GRU, nn.LSTMCell or nn.GRUCell, got RNN"),
    (lambda: nn.RNNCell(D, H), "got RNNCell"),
    (lambda: nn.Linear(D, H), "got Linear"),
    (lambda: nn.GRU(D, H, dtype=torch.float16), "float32 or float64"),
])
def test_from_torch_refuses_what_lstmkit_cannot_express(make, match):
    with pytest.raises(ValueError, match=match):
        from_torch(make())


@pytest.mark.parametrize(("make", "match"), [
    (lambda: LSTM(D, H, peephole=True), "peephole"),
    (lambda: LSTMCell(D, H, peephole=True), "peephole"),
    (lambda: LSTM(D, H, coupled=True), "coupled"),
    (lambda: LSTM(D, H, clip=3.0), "clip"),
    (lambda: LSTM(D, H, gate_activation="hard_sigmoid"), "gate_activation='sigmoid'"),
    (lambda: LSTMCell(D, H, candidate_activation="relu"), "candidate_activation='tanh'"),
    (lambda: LSTM(D, H, cell_activation="softsign"), "cell_activation='tanh'"),
    (lambda: GRU(D, H, candidate_activation="relu"), "candidate_activation='tanh'"),
    (lambda: GRU(D, H, linear_before_reset=False), "linear_before_reset"),
    (lambda: GRUCell(D, H, linear_before_reset=False), "linear_before_reset"),
    (lambda: nn.LSTM(D, H), "LSTM, GRU, LSTMCell or GRUCell, got LSTM"),
])
def test_to_torch_refuses_what_torch_cannot_express(make, match):
    with pytest.raises(ValueError, match=match):
        to_torch(make())
