"""Input checks shared by the layers: one clear line for every bad input, never a silent cast."""

import numpy as np


def shape_text(shape):
    """A shape as the messages write it: (T, N, 3), (3,); None is written ?."""
    text = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({text},)" if len(shape) == 1 else f"({text})"


def check_array(name, A, *, dtype, shape):
    """A as an ndarray of `dtype` and `shape`, finite everywhere.

    An entry of shape is a fixed size (int) or any size: None, or a letter ("T", "N")
    that the error message shows. Refuses a different rank, a size that differs where one
    is fixed, another dtype (no silent cast between float32 and float64) and NaN or inf,
    naming the argument.
    """
    A = np.asarray(A)
    if A.ndim != len(shape) or any(isinstance(s, (int, np.integer)) and s != a
                                   for s, a in zip(shape, A.shape, strict=True)):
        raise ValueError(f"{name} has shape {A.shape}, expected {shape_text(shape)}")
    if A.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {A.dtype} but the parameters are {np.dtype(dtype)}; "
            f"convert it with .astype(np.{np.dtype(dtype)}) or build the layer with that dtype"
        )
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or inf; clean the input before calling")
    return A


def valid_steps(lengths, mask, N, T):
    """The (T, N) bool array of valid steps from `lengths` (N,) or `mask` (N, T); None if neither.

    lengths: right padding, each in 0..T. mask: True at valid steps, one contiguous run per
    sequence (padding on either side); a gap inside a sequence is refused.
    """
    if lengths is not None and mask is not None:
        raise ValueError("give lengths or mask, not both")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (N,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be integers of shape ({N},), got {lengths.dtype} "
                             f"{lengths.shape}")
        if lengths.min(initial=0) < 0 or lengths.max(initial=0) > T:
            raise ValueError(f"lengths must lie in 0..{T} (the number of steps T), got "
                             f"{lengths.min()}..{lengths.max()}")
        return np.arange(T)[:, None] < lengths[None, :]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (N, T) or mask.dtype != bool:
            raise ValueError(f"mask must be a bool array of shape ({N}, {T}) (N, T), got "
                             f"{mask.dtype} {mask.shape}")
        starts = mask[:, 0].astype(int) + (np.diff(mask.astype(int), axis=1) == 1).sum(axis=1)
        if (starts > 1).any():
            n = int(np.argmax(starts > 1))
            raise ValueError(f"mask row {n} has a hole: the valid steps of a sequence must be "
                             "one contiguous run")
        return np.ascontiguousarray(mask.T)
    return None
