"""data.series on hand-made series whose windows, splits and scalings are known by heart."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.series import (
    Fold,
    as_frame,
    categories,
    check_columns,
    encode,
    fill_inputs,
    fit_scaler,
    last_known,
    one_hot,
    targets_within,
    walk_forward,
    windows,
)

T = 10
INPUTS = np.column_stack([np.arange(T), 10 * np.arange(T)]).astype(float)  # row t: (t, 10 t)
TARGETS = 100.0 + np.arange(T)  # row t: 100 + t


def test_windows_read_lookback_rows_and_predict_the_next_horizon_rows():
    w = windows(INPUTS, TARGETS, lookback=3, horizon=2)
    assert w.origin.tolist() == list(range(2, 10))
    assert w.X.shape == (8, 3, 2) and w.y.shape == (8, 2)
    for n, t in enumerate(w.origin):
        assert w.X[n, :, 0].tolist() == [t - 2, t - 1, t]
        assert w.X[n, :, 1].tolist() == [10 * (t - 2), 10 * (t - 1), 10 * t]
        assert w.last[n] == 100 + t
    assert w.y[0].tolist() == [103, 104]
    assert w.y[-2][0] == 109 and np.isnan(w.y[-2][1])  # the target row 10 is past the end
    assert np.isnan(w.y[-1]).all()  # the forecast from the last row is still made


def test_stride_keeps_every_stride_th_origin():
    w = windows(INPUTS, TARGETS, lookback=3, horizon=1, stride=3)
    assert w.origin.tolist() == [2, 5, 8]
    assert w.X[1, :, 0].tolist() == [3, 4, 5] and w.y[1].tolist() == [106]


def test_multi_output_targets():
    targets = np.column_stack([TARGETS, -TARGETS])
    w = windows(INPUTS, targets, lookback=2, horizon=3)
    assert w.y.shape == (9, 3, 2) and w.last.shape == (9, 2)
    assert w.y[0].tolist() == [[102, -102], [103, -103], [104, -104]]
    assert w.last[0].tolist() == [101, -101]


def test_missing_target_is_nan_and_last_is_carried_forward():
    targets = TARGETS.copy()
    targets[4] = np.nan
    w = windows(INPUTS, targets, lookback=2, horizon=1)
    assert np.isnan(w.y[w.origin == 3]).all()
    assert w.last[w.origin == 4].tolist() == [103]  # the last known value at row 4 is row 3's


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="lookback must be at least 1, got 0"):
        windows(INPUTS, TARGETS, lookback=0)
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        windows(INPUTS, TARGETS, lookback=2, horizon=0)
    with pytest.raises(ValueError, match="the series has 10 rows, fewer than lookback=11"):
        windows(INPUTS, TARGETS, lookback=11)
    with pytest.raises(ValueError, match="inputs have 10 rows but targets 9"):
        windows(INPUTS, TARGETS[:9], lookback=2)


def test_targets_within_needs_every_target_row_inside():
    origin = np.arange(2, 10)
    inside = targets_within(origin, 2, 5, 9)  # targets origin+1, origin+2 in rows 5..8
    assert origin[inside].tolist() == [4, 5, 6]


def test_walk_forward_cuts_the_test_rows_into_consecutive_folds():
    assert walk_forward(100, 0.2) == [Fold(80, 100)]
    assert walk_forward(100, 0.2, folds=2) == [Fold(80, 90), Fold(90, 100)]
    assert walk_forward(100, 0.3, folds=3) == [Fold(70, 80), Fold(80, 90), Fold(90, 100)]
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\), got 1"):
        walk_forward(100, 1)
    with pytest.raises(ValueError, match="10 rows do not make 3 test fold"):
        walk_forward(10, 0.2, folds=3)


def test_standard_scaler_ignores_nan_and_inverts():
    values = np.array([[1.0, 5.0], [3.0, np.nan], [5.0, 5.0]])
    scaler = fit_scaler(values, "standard")
    assert scaler.center.tolist() == [3.0, 5.0]
    assert np.allclose(scaler.scale, [np.std([1, 3, 5]), 1.0])  # a constant column keeps 1
    scaled = scaler.transform(values)
    assert np.allclose(scaled[:, 0], [-1.2247448714, 0, 1.2247448714])
    assert np.allclose(scaler.inverse(scaled), values, equal_nan=True)
    assert np.allclose(scaler.inverse(scaled[:, 0], column=0), values[:, 0])


def test_minmax_and_none_scalers():
    values = np.array([[2.0], [4.0], [10.0]])
    assert fit_scaler(values, "minmax").transform(values)[:, 0].tolist() == [0, 0.25, 1]
    assert fit_scaler(values, "none").transform(values)[:, 0].tolist() == [2, 4, 10]
    with pytest.raises(ValueError, match="unknown scale 'robust'; choose one of: standard"):
        fit_scaler(values, "robust")
    with pytest.raises(ValueError, match="a column has no observed value in the training rows"):
        fit_scaler(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_one_hot_uses_the_training_categories_only():
    train = pd.DataFrame({"wind": ["NW", "SE", "NW"], "speed": [1.0, 2.0, 3.0]})
    seen = categories(train, ["wind"])
    assert seen == {"wind": ["NW", "SE"]}
    later = pd.DataFrame({"wind": ["SE", "cv", None], "speed": [4.0, 5.0, 6.0]})
    encoded = one_hot(later, seen)
    assert list(encoded.columns) == ["wind=NW", "wind=SE", "speed"]
    assert encoded.to_numpy().tolist() == [[0, 1, 4], [0, 0, 5], [0, 0, 6]]  # unseen, missing: 0
    values, names = encode(later, ["speed", "wind"], seen)
    assert names == ["speed", "wind=NW", "wind=SE"] and values.shape == (3, 3)


def test_missing_inputs_are_carried_forward_then_filled():
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 7.0]])
    filled = fill_inputs(values, fill=[-1.0, -2.0])
    assert filled.tolist() == [[-1, 1], [2, 1], [2, 1], [4, 7]]
    assert last_known([np.nan, 1.0, np.nan, 3.0]).tolist()[1:] == [1, 1, 3]


def test_columns_are_checked():
    frame = pd.DataFrame({"price": [1.0, 2.0], "label": ["up", "down"]})
    assert check_columns(frame, "price") == (["price", "label"], ["label"])
    assert check_columns(frame, "price", ["price"]) == (["price"], [])
    with pytest.raises(ValueError, match="no column 'volume' in the series; its columns are: "
                                         "price, label"):
        check_columns(frame, "volume")
    with pytest.raises(ValueError, match="target column 'label' is not numeric .* 'up'"):
        check_columns(frame, "label")
    assert list(as_frame(np.zeros((4, 3))).columns) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"the series has shape \(2, 3, 4\); give a DataFrame"):
        as_frame(np.zeros((2, 3, 4)))
