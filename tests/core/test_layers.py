"""core.layers: whole-sequence BPTT through lstmkit.LSTM / GRU, and "feature off equals base".

Gradient checks (float64): a 2-layer bidirectional stack, random non-zero initial state,
loss L = sum(R_Y * Y) + the random projection of every final state array, without masks,
with right padding (lengths) and with left padding (mask). Checked: every parameter, X and
the initial state, each at ENTRIES random entries (every entry of a whole sequence costs
two forward passes; the cell tests check every entry of one step). Both implementations
of the runner are checked: the NumPy reference loop (LSTMKIT_NO_JIT=1) and the default
path, which takes the fast kernels (core.kernels) where they cover the cell. (Padding,
truncation and dropout semantics are tested in test_sequence.py.)
"""

import numpy as np
import pytest

import lstmkit
from lstmkit.core.activations import Activation
from lstmkit.core.gradcheck import check_grads

N, T, D, H = 3, 6, 4, 5  # all distinct, so a transposed or misplaced axis cannot pass
L, DIRS = 2, 2
TOL = 1e-7
ENTRIES = 12

LENGTHS = np.array([T, 0, 3])  # right padding, one empty sequence
MASK = np.arange(T)[None, :] >= np.array([0, 2, T - 1])[:, None]  # (N, T) left padding
PADDINGS = {"full": {}, "lengths": {"lengths": LENGTHS}, "left-mask": {"mask": MASK}}
MAKERS = {
    "LSTM": lambda: lstmkit.LSTM(D, H, L, bidirectional=True, dtype=np.float64, seed=0),
    "LSTM-peephole-coupled": lambda: lstmkit.LSTM(D, H, L, bidirectional=True, dtype=np.float64,
                                                  seed=0, peephole=True, coupled=True),
    "GRU": lambda: lstmkit.GRU(D, H, L, bidirectional=True, dtype=np.float64, seed=0),
    "GRU-G3'": lambda: lstmkit.GRU(D, H, L, bidirectional=True, dtype=np.float64, seed=0,
                                   linear_before_reset=False),
}


@pytest.fixture(params=["numpy", "default"])
def path(request, monkeypatch):
    """The runner's implementation: the NumPy reference loop, or the automatic choice."""
    if request.param == "numpy":
        monkeypatch.setenv("LSTMKIT_NO_JIT", "1")
    else:
        monkeypatch.delenv("LSTMKIT_NO_JIT", raising=False)
    return request.param


@pytest.fixture
def reference_path(monkeypatch):
    """The NumPy reference loop for every cell: the fast kernels cover only some options, and
    a variant on the reference beside the base on the kernels would agree to rounding only."""
    monkeypatch.setenv("LSTMKIT_NO_JIT", "1")


BPTT_CASES = [(model, padding) for model in ("LSTM", "GRU") for padding in PADDINGS] + [
    ("LSTM-peephole-coupled", "left-mask"), ("GRU-G3'", "lengths")]


def state_names(layer):
    return ("h_0", "c_0") if isinstance(layer, lstmkit.LSTM) else ("h_0",)


def random_inputs(layer, dtype=np.float64, seed=1):
    """X (T, N, D), the initial state as a list of arrays, and the projections of Y and state."""
    rng = np.random.default_rng(seed)
    n = len(state_names(layer))
    X = rng.normal(0, 1, (T, N, D)).astype(dtype)
    state0 = [rng.normal(0, 1, (L * DIRS, N, H)).astype(dtype) for _ in range(n)]
    R_Y = rng.normal(0, 1, (T, N, DIRS * H)).astype(dtype)
    R_state = [rng.normal(0, 1, (L * DIRS, N, H)).astype(dtype) for _ in range(n)]
    return X, state0, R_Y, R_state


def torch_form(arrays):
    return tuple(arrays) if len(arrays) > 1 else arrays[0]


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


def loss(layer, X, state0, R_Y, R_state, padding):
    Y, state = layer(X, torch_form(state0), **padding)
    state_terms = (np.sum(R * S) for R, S in zip(R_state, as_list(state), strict=True))
    return float(np.sum(R_Y * Y) + sum(state_terms))


@pytest.mark.parametrize("model, padding", BPTT_CASES, ids=[f"{m}-{p}" for m, p in BPTT_CASES])
def test_bptt_gradients(model, padding, path):
    layer, padding = MAKERS[model](), PADDINGS[padding]
    for A in layer.params.values():  # weights larger than the init, so gates are not all ~0.5
        A *= 2.0
    X, state0, R_Y, R_state = random_inputs(layer)
    layer.train()
    layer(X, torch_form(state0), **padding)
    dX, dstate0 = layer.backward(R_Y, torch_form(R_state))
    analytic = {**layer.grads, "X": dX}
    analytic.update(zip(state_names(layer), as_list(dstate0), strict=True))
    arrays = {**layer.params, "X": X, **dict(zip(state_names(layer), state0, strict=True))}
    layer.eval()
    errors = check_grads(lambda: loss(layer, X, state0, R_Y, R_state, padding), arrays, analytic,
                         max_entries=ENTRIES)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e}"


def run(layer, X, state0, R_Y, R_state, padding):
    """Outputs, final state, dX, dstate_0 and the grads, in one flat dict."""
    layer.train()
    Y, state = layer(X, torch_form(state0), **padding)
    dX, dstate0 = layer.backward(R_Y, torch_form(R_state))
    out = {"Y": Y, "X": dX}
    out.update({f"state{i}": S for i, S in enumerate(as_list(state))})
    out.update({f"dstate{i}": S for i, S in enumerate(as_list(dstate0))})
    out.update({f"grad {name}": g for name, g in layer.grads.items()})
    return out


TANH_BY_ANOTHER_PATH = Activation("scaled_tanh", alpha=1.0, beta=1.0)  # 1.0 * tanh(1.0 * x)

FEATURES_OFF = {
    "peephole P=0": dict(peephole=True),
    "clip 1e6": dict(clip=1e6),
    "activations by name": dict(gate_activation="sigmoid", candidate_activation="tanh",
                                cell_activation="tanh"),
    "activations as objects": dict(gate_activation=Activation("sigmoid"),
                                   candidate_activation=Activation("tanh"),
                                   cell_activation=Activation("tanh")),
    "tanh as scaled_tanh(1, 1)": dict(candidate_activation=TANH_BY_ANOTHER_PATH,
                                      cell_activation=TANH_BY_ANOTHER_PATH),
    "all of them": dict(peephole=True, clip=1e6, gate_activation=Activation("sigmoid"),
                        candidate_activation=TANH_BY_ANOTHER_PATH,
                        cell_activation=TANH_BY_ANOTHER_PATH),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [{}, {"mask": MASK}], ids=["full", "left-mask"])
@pytest.mark.parametrize("options", list(FEATURES_OFF.values()), ids=list(FEATURES_OFF))
def test_lstm_feature_off_equals_base_bit_for_bit(options, padding, dtype, reference_path):
    base = lstmkit.LSTM(D, H, L, bidirectional=True, dtype=dtype, seed=0)
    variant = lstmkit.LSTM(D, H, L, bidirectional=True, dtype=dtype, seed=0, **options)
    for name, A in variant.params.items():
        A[...] = base.params[name] if name in base.params else 0  # P = 0
    inputs = random_inputs(base, dtype)
    expected = run(base, *inputs, padding)
    got = run(variant, *inputs, padding)
    got = {k: v for k, v in got.items() if not k.endswith(".P")}  # the variant's own dP
    assert got.keys() == expected.keys()
    different = [k for k in expected if not np.array_equal(expected[k], got[k])]
    assert not different, f"differ from the base LSTM: {different}"


@pytest.mark.parametrize("padding", [{}, {"mask": MASK}], ids=["full", "left-mask"])
@pytest.mark.parametrize("options", [
    dict(gate_activation=Activation("sigmoid"), candidate_activation=Activation("tanh")),
    dict(candidate_activation=TANH_BY_ANOTHER_PATH),
], ids=["activations as objects", "tanh as scaled_tanh(1, 1)"])
def test_gru_feature_off_equals_base_bit_for_bit(options, padding, reference_path):
    base = lstmkit.GRU(D, H, L, bidirectional=True, dtype=np.float64, seed=0)
    variant = lstmkit.GRU(D, H, L, bidirectional=True, dtype=np.float64, seed=0, **options)
    inputs = random_inputs(base)
    expected, got = run(base, *inputs, padding), run(variant, *inputs, padding)
    different = [k for k in expected if not np.array_equal(expected[k], got[k])]
    assert not different, f"differ from the base GRU: {different}"
