"""MNIST read row by row: each 28x28 image is 28 time steps of 28 pixels.

The article's model: one LSTM layer of 128 units, a dense layer on the last hidden state,
softmax cross-entropy, Adam at 1e-3, batch 128 (SequenceClassifier's defaults). Pixels
are scaled to [0, 1]. The validation set is carved from the training images; the test
set is scored once, at the end.
"""

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lstmkit.data.mnist import load_mnist
from lstmkit.estimators import SequenceClassifier
from lstmkit.tasks.plots import plot_confusion, plot_curves, plot_image_grid
from lstmkit.train.loop import Data, evaluate
from lstmkit.train.rundir import RunDir
from lstmkit.train.serialize import load

ESTIMATOR = SequenceClassifier
# The task's recipe (chosen on validation accuracy, docs/results.md): the article's model
# with the forget-gate bias at 1.0 (its TensorFlow cell's default), a 2-epoch warm-up to
# 3e-3 and a cosine decay over 30 epochs; every other value is the estimator's default.
DEFAULTS = {"epochs": 30, "schedule": "cosine", "lr": 3e-3, "warmup_epochs": 2,
            "forget_bias": 1.0}


@dataclass(frozen=True)
class MNISTOptions:
    """Where the images come from and how many to use."""

    data_dir: str | None = None  # a folder with the four IDX files (else cache, download, embedded)
    train_size: int | None = None  # use only the first N training images (quick runs)
    test_size: int | None = None  # use only the first N test images


OPTIONS = MNISTOptions


def as_sequences(images):
    """uint8 images (N, 28, 28) -> float32 sequences (N, T=28, D=28) in [0, 1]."""
    return images.astype(np.float32) / 255


def _load(options, echo):
    data = load_mnist(options.data_dir, progress=True)
    echo(f"MNIST from {data.source}: {len(data.train_labels)} training and "
         f"{len(data.test_labels)} test images")
    train = slice(options.train_size)
    test = slice(options.test_size)
    return (data.train_images[train], data.train_labels[train], data.test_images[test],
            data.test_labels[test], data.source)


def train(params, options: MNISTOptions, out, *, resume=False, echo=print):
    """Fit a SequenceClassifier with params, write the run directory, return metrics."""
    start = time.perf_counter()
    ESTIMATOR(**params).configs(28, 10)  # refuse bad hyperparameters before writing anything
    run = RunDir(out).create()
    X_train, y_train, X_test, y_test, source = _load(options, echo)
    if not resume:
        run.write_config({"task": "mnist", "estimator": params, "options": asdict(options)})
    classifier = ESTIMATOR(**params).fit(as_sequences(X_train), y_train, run_dir=out,
                                         resume=resume)
    config = run.read_json("config.json")
    run.write_config({**config, "classes": classifier.classes_.tolist(), "data_source": source})
    if classifier.stopped_ == "interrupted":
        echo(f"stopped; continue with: lstmkit train mnist --resume {out}")
        return None
    history = classifier.history_
    metrics = {"train": {k.removeprefix("train_"): v for k, v in history[-1].items()
                         if k.startswith("train_")},
               "validation": {k.removeprefix("val_"): v for k, v in history[-1].items()
                              if k.startswith("val_")},
               "test": test_metrics(classifier, X_test, y_test),
               "epochs": len(history), "stopped": classifier.stopped_,
               "wall_time_s": time.perf_counter() - start,
               "samples_per_s": float(np.mean([row["samples_per_s"] for row in history]))}
    run.write_json("metrics.json", metrics)
    plots = write_plots(run, classifier, X_test, y_test)
    echo(f"test accuracy {metrics['test']['accuracy']:.2%} on {len(y_test)} test images "
         f"(loss {metrics['test']['loss']:.4f}), {metrics['wall_time_s']:.0f} s")
    echo(f"run directory {out}: metrics.json, history.csv, checkpoint {run.checkpoint.name}, "
         f"plots {', '.join(p.name for p in plots)}")
    return metrics


def test_metrics(classifier, images, labels):
    """{"accuracy", "loss"} on the given test images."""
    index = np.searchsorted(classifier.classes_, labels)
    return evaluate(classifier.model_, Data(as_sequences(images), index))


def write_plots(run, classifier, images, labels):
    """Curves, confusion matrix and a grid of misclassified test digits."""
    predicted = classifier.predict(as_sequences(images))
    wrong = np.flatnonzero(predicted != labels)[:32]
    return [plot_curves(classifier.history_, run.path / "curves.png"),
            plot_confusion(labels, predicted, classifier.classes_, run.path / "confusion.png"),
            plot_image_grid(images[wrong], [f"true {labels[i]}, said {predicted[i]}"
                                            for i in wrong], run.path / "misclassified.png")]


def load_run(out):
    """(the fitted classifier, config.json) of a finished or stopped MNIST run."""
    run = RunDir(out)
    config = run.read_json("config.json")
    classifier = ESTIMATOR(**config["estimator"])
    classifier.model_ = load(run.checkpoint)
    classifier.classes_ = np.array(config["classes"])
    return classifier, config


def evaluate_run(out, echo=print):
    """Score a run's model on its test images once more; returns the test metrics."""
    classifier, config = load_run(out)
    *_, X_test, y_test, _ = _load(MNISTOptions(**config["options"]), echo)
    metrics = test_metrics(classifier, X_test, y_test)
    echo(f"test accuracy {metrics['accuracy']:.2%}, loss {metrics['loss']:.4f} on "
         f"{len(y_test)} test images")
    return metrics


def read_digit(path, echo=print):
    """A 28x28 image from a PNG or .npy file as float32 in [0, 1], white digit on black.

    Colour is converted to grey (ITU-R 601 luma); a light background (the border brighter
    than mid-grey) is inverted, with a notice; any other size is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix.lower() == ".npy":
        image = np.load(path, allow_pickle=False)
    elif path.suffix.lower() == ".png":
        import matplotlib.image

        image = matplotlib.image.imread(path)
    else:
        raise ValueError(f"{path.name}: give a .png or .npy image")
    image = np.asarray(image, np.float32)
    if np.issubdtype(image.dtype, np.integer) or image.max() > 1:
        image = image / 255
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if image.shape != (28, 28):
        raise ValueError(f"{path.name} is {image.shape[0]}x{image.shape[1]}; the MNIST model "
                         "reads 28x28 images: resize it first")
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    if border.mean() > 0.5:
        echo("note: light background, inverting the image (MNIST digits are white on black)")
        image = 1 - image
    return image


def predict_file(out, path, echo=print):
    """The digit the run's model reads in an image file; prints the class probabilities."""
    classifier, _ = load_run(out)
    probabilities = classifier.predict_proba(read_digit(path, echo)[None])[0]
    digit = classifier.classes_[probabilities.argmax()]
    echo(f"{Path(path).name}: {digit} (probability {probabilities.max():.3f})")
    pairs = zip(classifier.classes_, probabilities, strict=True)
    echo("  " + "  ".join(f"{c}:{p:.3f}" for c, p in pairs))
    return digit
