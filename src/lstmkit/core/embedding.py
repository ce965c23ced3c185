"""The embedding layer: token ids to vectors, Y = W[ids].

Shapes: ids (...) integers in 0..V-1, W (V, E), Y (..., E). Initialisation: N(0, 1),
torch.nn.Embedding's rule. Backward: dW[v] = the sum of dY over every position holding v.
"""

import numpy as np


def check_ids(ids, vocab_size):
    """ids as an integer array with every value in 0..vocab_size-1, or a clear error."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in 0..{vocab_size - 1} (the vocabulary size "
                         f"{vocab_size}), got {ids.min()}..{ids.max()}")
    return ids


def embedding_forward(params, ids):
    """Y = W[ids]: (...) -> (..., E)."""
    return params["W"][ids]


def embedding_backward(params, ids, dY):
    """dW = the rows of dY added up at their ids. Returns grads."""
    dW = np.zeros_like(params["W"])
    np.add.at(dW, ids.reshape(-1), dY.reshape(-1, dW.shape[1]))
    return {"W": dW}


class Embedding:
    """An embedding layer holding params, grads and the ids of its last forward."""

    def __init__(self, num_embeddings, embedding_dim, *, dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.params = {"W": rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)}
        self.grads = {"W": np.zeros_like(self.params["W"])}
        self._ids = None

    def forward(self, ids):
        """Y = W[ids] for integer ids of any shape."""
        self._ids = check_ids(ids, self.num_embeddings)
        return embedding_forward(self.params, self._ids)

    __call__ = forward

    def backward(self, dY):
        """Sets self.grads for the last forward (ids have no gradient)."""
        if self._ids is None:
            raise RuntimeError("backward needs a forward pass first")
        self.grads = embedding_backward(self.params, self._ids, dY)
