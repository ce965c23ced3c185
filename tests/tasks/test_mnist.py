"""The MNIST task end to end on a slice of the real data: a run stopped by Ctrl-C (at an
epoch's end or in the middle of one) and resumed writes the same parameters, history.csv
(time columns aside) and metrics.json as a run that was never stopped."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lstmkit.tasks import mnist
from lstmkit.train.checkpoint import load_checkpoint
from lstmkit.train.loop import TIME_COLUMNS

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
OPTIONS = mnist.MNISTOptions(data_dir=str(MNIST_DIR), train_size=330, test_size=100)
PARAMS = {"hidden_size": 10, "num_layers": 2, "dropout": 0.2, "epochs": 3, "batch_size": 50,
          "schedule": "step", "step_size": 1, "clip_norm": 1.0, "verbose": 0}
# 330 images, 10% validation: 297 for training, 6 batches an epoch


def run_files(out):
    params = load_checkpoint(Path(out) / "checkpoint.npz")[0]
    with open(Path(out) / "history.csv") as stream:
        history = [{k: v for k, v in row.items() if k not in TIME_COLUMNS}
                   for row in csv.DictReader(stream)]
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    for key in ("wall_time_s", "samples_per_s"):
        metrics.pop(key)
    return params, history, metrics


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    mnist.train(PARAMS, OPTIONS, out, echo=lambda *_: None)
    return run_files(out)


@pytest.mark.parametrize("stop_after_step", [6, 9], ids=["epoch-end", "mid-epoch"])
def test_resumed_run_equals_uninterrupted_run(uninterrupted, stop_after_step, tmp_path,
                                              ctrl_c_after):
    ctrl_c_after(stop_after_step)
    messages = []
    assert mnist.train(PARAMS, OPTIONS, tmp_path, echo=messages.append) is None
    assert any("--resume" in m for m in messages)
    assert not (tmp_path / "metrics.json").exists()
    ctrl_c_after(None)
    mnist.train(PARAMS, OPTIONS, tmp_path, resume=True, echo=lambda *_: None)

    params, history, metrics = run_files(tmp_path)
    whole_params, whole_history, whole_metrics = uninterrupted
    assert params.keys() == whole_params.keys()
    assert all(np.array_equal(params[k], whole_params[k]) for k in params)
    assert history == whole_history and len(history) == 3
    assert metrics == whole_metrics


def test_read_digit_converts_colour_and_refuses_other_files(tmp_path):
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[10:18, 12:16] = (255, 128, 0)
    np.save(tmp_path / "rgb.npy", rgb)
    grey = mnist.read_digit(tmp_path / "rgb.npy", echo=lambda *_: None)
    assert grey.shape == (28, 28) and grey.dtype == np.float32
    assert np.isclose(grey[12, 13], 0.299 + 0.587 * 128 / 255)
    (tmp_path / "digit.jpg").write_bytes(b"not really")
    with pytest.raises(ValueError, match=r"digit.jpg: give a .png or .npy image"):
        mnist.read_digit(tmp_path / "digit.jpg")
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        mnist.read_digit(tmp_path / "missing.png")
