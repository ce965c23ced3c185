"""save(obj, path) / load(path): models and layers to and from checkpoint files.

A model or layer is stored as its parameters plus the constructor arguments that rebuild
it, in the never-unpickling checkpoint format of train.checkpoint. load also reads the
model out of a training checkpoint (train.loop).
"""

from dataclasses import asdict

from lstmkit.core.activations import Activation
from lstmkit.core.dense import Dense
from lstmkit.core.embedding import Embedding
from lstmkit.core.layers import GRU, LSTM, GRUCell, LSTMCell
from lstmkit.train.checkpoint import load_checkpoint, save_checkpoint
from lstmkit.train.model import ModelConfig, SequenceModel

LAYERS = {cls.__name__: cls for cls in (LSTM, GRU, LSTMCell, GRUCell, Dense, Embedding)}


def _arguments(obj):
    """The constructor arguments that rebuild obj (JSON-ready)."""
    if isinstance(obj, Dense):
        return {"in_features": obj.in_features, "out_features": obj.out_features,
                "bias": "b" in obj.params, "dtype": obj.dtype.name}
    if isinstance(obj, Embedding):
        return {"num_embeddings": obj.num_embeddings, "embedding_dim": obj.embedding_dim,
                "dtype": obj.params["W"].dtype.name}
    arguments = {"input_size": obj.input_size, "hidden_size": obj.hidden_size,
                 "bias": obj.bias, "dtype": obj.dtype.name}
    if isinstance(obj, (LSTM, GRU)):
        arguments.update(num_layers=obj.num_layers, batch_first=obj.batch_first,
                         dropout=obj.dropout, bidirectional=obj.bidirectional)
    arguments.update(asdict(obj.step))  # the cell's options; activations as dicts
    return arguments


def _rebuild(kind, arguments):
    arguments = {key: Activation(**value) if key.endswith("_activation") else value
                 for key, value in arguments.items()}
    return LAYERS[kind](**arguments)


def save(obj, path):
    """Write a SequenceModel or a layer (LSTM, GRU, LSTMCell, GRUCell, Dense, Embedding)."""
    if isinstance(obj, SequenceModel):
        meta = {"kind": "SequenceModel", "model": asdict(obj.config)}
    elif type(obj).__name__ in LAYERS and isinstance(obj, LAYERS[type(obj).__name__]):
        meta = {"kind": type(obj).__name__, "arguments": _arguments(obj)}
    else:
        raise TypeError(f"save takes a SequenceModel or one of {', '.join(LAYERS)}, "
                        f"got {type(obj).__name__}")
    save_checkpoint(path, {f"params/{k}": v for k, v in obj.params.items()}, meta)


def load(path):
    """The SequenceModel or layer saved at path (or the model of a training checkpoint)."""
    arrays, meta = load_checkpoint(path)
    kind = meta.get("kind")
    if kind in ("SequenceModel", "training"):
        obj = SequenceModel(ModelConfig(**meta["model"]))
    elif kind in LAYERS:
        obj = _rebuild(kind, meta["arguments"])
    else:
        raise ValueError(f"{path} holds {kind!r}, not a model or layer lstmkit can load")
    params = {k.removeprefix("params/"): v for k, v in arrays.items() if k.startswith("params/")}
    if params.keys() != obj.params.keys():
        raise ValueError(f"{path} has parameters {sorted(params)}, expected "
                         f"{sorted(obj.params)}: the file does not match its own config")
    for name, value in params.items():
        if value.shape != obj.params[name].shape or value.dtype != obj.params[name].dtype:
            raise ValueError(f"{path}: parameter {name} is {value.dtype} {value.shape}, "
                             f"expected {obj.params[name].dtype} {obj.params[name].shape}")
        obj.params[name][...] = value
    return obj


__all__ = ["load", "save"]
