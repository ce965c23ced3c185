"""Gradient clipping against torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""

import math

import numpy as np
import pytest
import torch

from lstmkit.train.clipping import clip_grad_norm, clip_grad_value

SHAPES = {"l0.W_x": (5, 12), "l0.W_h": (3, 12), "l0.b": (12,), "head.W": (3, 2, 2)}


def random_grads(dtype, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.standard_normal(shape).astype(dtype) for key, shape in SHAPES.items()}


def torch_params(grads: dict[str, np.ndarray]) -> list[torch.nn.Parameter]:
    params = []
    for g in grads.values():
        p = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype))
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    return params


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-8))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])  # clips / leaves alone
@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, tol):
    grads = random_grads(dtype)
    arrays_before = dict(grads)
    params = torch_params(grads)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type, foreach=False)
    norm = clip_grad_norm(grads, max_norm, norm_type)
    assert isinstance(norm, float)
    assert abs(norm - torch_norm.item()) <= tol * torch_norm.item()
    for g, p in zip(grads.values(), params, strict=True):
        assert rel_error(g, p.grad.numpy()) < tol
    assert all(grads[k] is arrays_before[k] and grads[k].dtype == dtype for k in grads)


def test_clip_grad_norm_bounds_the_norm():
    grads = random_grads(np.float64)
    clip_grad_norm(grads, 0.5)
    assert clip_grad_norm(grads, 1e9) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_refuses_nonfinite_and_leaves_grads(bad, norm_type):
    grads = random_grads(np.float32)
    grads["l0.b"][3] = bad
    before = {k: g.copy() for k, g in grads.items()}
    with pytest.raises(ValueError, match="total gradient norm is .*NaN or inf"):
        clip_grad_norm(grads, 1.0, norm_type)
    for key, g in grads.items():
        np.testing.assert_array_equal(g, before[key])


def test_clip_grad_norm_of_no_grads_is_zero():
    assert clip_grad_norm({}, 1.0) == 0.0


@pytest.mark.parametrize("clip_value", [0.1, 0.7, 10.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    grads = random_grads(dtype, seed=1)
    arrays_before = dict(grads)
    params = torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, clip_value, foreach=False)
    clip_grad_value(grads, clip_value)
    for key, p in zip(grads, params, strict=True):
        assert grads[key] is arrays_before[key] and grads[key].dtype == dtype
        np.testing.assert_array_equal(grads[key], p.grad.numpy())
