"""lstmkit layers to and from torch.nn modules, with identical weights.

    from lstmkit.interop.torch import from_torch, to_torch
    layer = from_torch(torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True))
    module = to_torch(layer)

nn.LSTM <-> LSTM, nn.GRU <-> GRU, nn.LSTMCell <-> LSTMCell, nn.GRUCell <-> GRUCell
(lstmkit.core.layers), keeping the dtype (float32 or float64), the sizes, num_layers,
bidirectional, batch_first, bias and dropout. The weights are copied (interop.layout gives
the layouts); the new object starts fresh: zero gradients, train mode, its own random
generator for dropout. Torch modules are built on the CPU.

The LSTM keeps one bias per gate where torch keeps two: from_torch sums them, to_torch puts
the sum in bias_ih and zeros in bias_hh. What the other side cannot express is refused with
a ValueError: an LSTM projection (proj_size > 0) to lstmkit; peepholes, activations other
than sigmoid / tanh, coupled input and forget gates, clip and the ONNX-form GRU
(linear_before_reset=False) to torch.

This module imports torch (a test dependency of lstmkit, not a runtime one): nothing else in
lstmkit imports it.
"""

import numpy as np
import torch
from torch import nn

from lstmkit.core.activations import Activation
from lstmkit.core.layers import GRU, LSTM, GRUCell, LSTMCell
from lstmkit.interop import layout

# (torch class, lstmkit class, lstmkit -> torch layout, torch -> lstmkit layout)
_KINDS = (
    (nn.LSTM, LSTM, layout.lstm_to_torch, layout.lstm_from_torch),
    (nn.GRU, GRU, layout.gru_to_torch, layout.gru_from_torch),
    (nn.LSTMCell, LSTMCell, layout.lstm_to_torch, layout.lstm_from_torch),
    (nn.GRUCell, GRUCell, layout.gru_to_torch, layout.gru_from_torch),
)
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _suffixes(layer_or_module):
    """Torch's parameter-name suffix per run: "" for a cell; "_l0", "_l0_reverse", ... for a
    stack, which are lstmkit's prefixes "l0", "l0_reverse", ... with an underscore."""
    if isinstance(layer_or_module, (nn.RNNCellBase, LSTMCell, GRUCell)):
        return [""]
    directions = 2 if layer_or_module.bidirectional else 1
    return [f"_l{k}{'_reverse' if d else ''}" for k in range(layer_or_module.num_layers)
            for d in range(directions)]


def _params_key(suffix, name):
    """The key in layer.params: "W_x" for a cell, "l0_reverse.W_x" in a stack."""
    return f"{suffix[1:]}.{name}" if suffix else name


def _run_params(layer, suffix):
    """The params of the run with this suffix, keyed without the prefix ("W_x", ...)."""
    if not suffix:
        return dict(layer.params)
    prefix = f"{suffix[1:]}."
    return {k[len(prefix):]: v for k, v in layer.params.items() if k.startswith(prefix)}


def from_torch(module):
    """The lstmkit layer equal to a torch nn.LSTM, nn.GRU, nn.LSTMCell or nn.GRUCell."""
    kind = next((kind for kind in _KINDS if isinstance(module, kind[0])), None)
    if kind is None:
        raise ValueError(f"from_torch takes nn.LSTM, nn.GRU, nn.LSTMCell or nn.GRUCell, got "
                         f"{type(module).__name__}")
    _, lstmkit_type, _, convert = kind
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(f"nn.LSTM with proj_size={module.proj_size} has no lstmkit "
                         "equivalent (lstmkit has no LSTM projection); use proj_size=0")
    suffixes = _suffixes(module)
    dtype = getattr(module, "weight_ih" + suffixes[0]).dtype
    if dtype not in _DTYPES:
        raise ValueError(f"from_torch takes float32 or float64 modules, got {dtype}; "
                         "convert it with .float() or .double()")
    options = {} if suffixes == [""] else {
        "num_layers": module.num_layers, "batch_first": module.batch_first,
        "dropout": module.dropout, "bidirectional": module.bidirectional}
    layer = lstmkit_type(module.input_size, module.hidden_size, bias=module.bias,
                         dtype=_DTYPES[dtype], **options)
    for suffix in suffixes:
        tensors = {name: getattr(module, name + suffix, None) for name in _TORCH_NAMES}
        torch_params = {name: t.detach().cpu().numpy() for name, t in tensors.items()
                        if t is not None}  # no biases with bias=False
        for name, value in convert(torch_params).items():
            layer.params[_params_key(suffix, name)] = value  # same shape and dtype
    return layer


def _check_expressible(layer):
    """Refuse, with one line, a variant that torch.nn cannot compute."""
    step, name = layer.step, type(layer).__name__
    activations = {"gate_activation": Activation("sigmoid"),
                   "candidate_activation": Activation("tanh")}
    if isinstance(layer, (LSTM, LSTMCell)):
        activations["cell_activation"] = Activation("tanh")
        for option in ("peephole", "coupled"):
            if getattr(step, option):
                raise ValueError(f"torch.nn has no {option} LSTM; this {name} has {option}=True")
        if step.clip is not None:
            raise ValueError(f"torch.nn has no LSTM clip; this {name} has clip={step.clip}")
    elif not step.linear_before_reset:
        raise ValueError(f"torch.nn.GRU computes only linear_before_reset=True; this {name} "
                         "has linear_before_reset=False (ONNX's default form)")
    for option, default in activations.items():
        if getattr(step, option) != default:
            raise ValueError(f"torch.nn needs {option}={default.name!r}; this {name} has "
                             f"{getattr(step, option)}")


def to_torch(layer):
    """The torch nn.LSTM, nn.GRU, nn.LSTMCell or nn.GRUCell equal to an lstmkit layer (CPU)."""
    kind = next((kind for kind in _KINDS if isinstance(layer, kind[1])), None)
    if kind is None:
        raise ValueError(f"to_torch takes lstmkit LSTM, GRU, LSTMCell or GRUCell, got "
                         f"{type(layer).__name__}")
    torch_type, _, convert, _ = kind
    _check_expressible(layer)
    suffixes = _suffixes(layer)
    options = {} if suffixes == [""] else {
        "num_layers": layer.num_layers, "batch_first": layer.batch_first,
        "dropout": layer.dropout, "bidirectional": layer.bidirectional}
    dtype = torch.float32 if layer.dtype == np.float32 else torch.float64
    module = torch_type(layer.input_size, layer.hidden_size, bias=layer.bias, dtype=dtype,
                        **options)
    with torch.no_grad():
        for suffix in suffixes:
            for name, value in convert(_run_params(layer, suffix)).items():
                getattr(module, name + suffix).copy_(torch.from_numpy(value))
    return module
