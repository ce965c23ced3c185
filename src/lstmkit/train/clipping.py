"""Gradient clipping, in place, with torch.nn.utils.clip_grad_norm_ / clip_grad_value_ semantics.

Gradients are dict[str, ndarray] (the same dict an optimizer's step takes).
"""

import numpy as np

Arrays = dict[str, np.ndarray]


def clip_grad_norm(grads: Arrays, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together so that their total norm is at most max_norm.

        norm = || (||g_1||_p, ..., ||g_n||_p) ||_p     the p-norm of all entries as one vector
        coef = min(max_norm / (norm + 1e-6), 1)
        g_k  = coef * g_k                               for every gradient, in place

    p = norm_type (2, 1, inf, or any p > 0). As torch.nn.utils.clip_grad_norm_ (PyTorch 2.13)
    with error_if_nonfinite=True: a NaN or infinite total norm raises ValueError before any
    gradient is touched. The arithmetic runs in the gradients' dtype, as torch's does.

    Returns the total norm before clipping.
    """
    if not grads:
        return 0.0
    norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in grads.values()]
    norm = np.linalg.norm(np.array(norms), ord=norm_type)
    if not np.isfinite(norm):
        raise ValueError(
            f"the total gradient norm is {norm}: a gradient holds NaN or inf "
            "(check the loss and the inputs, or lower the learning rate)"
        )
    coef = min(max_norm / (norm + 1e-6), 1.0)
    for g in grads.values():
        g *= coef
    return float(norm)


def clip_grad_value(grads: Arrays, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place.

        g = min(max(g, -clip_value), clip_value)

    As torch.nn.utils.clip_grad_value_ (PyTorch 2.13).
    """
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)
