"""The plots a run directory holds, drawn with matplotlib's file-only Agg backend."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(history, path):
    """Loss (and accuracy where recorded) per epoch, training beside validation."""
    epochs = [row["epoch"] for row in history]
    metrics = [m for m in ("loss", "accuracy") if f"train_{m}" in history[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if key in history[0]:
                ax.plot(epochs, [row[key] for row in history], marker="o",
                        label="training" if split == "train" else "validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_confusion(y_true, y_pred, labels, path):
    """Confusion matrix: rows the true class, columns the predicted class, counts in cells."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), int)
    np.add.at(counts, ([index[v] for v in y_true], [index[v] for v in y_pred]), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(counts, cmap="Blues")
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, count, ha="center", va="center", fontsize=7,
                color="white" if count > counts.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save(fig, path)


def plot_image_grid(images, titles, path, columns=8):
    """Grey images in a grid, each with its title (for example 'true 4, predicted 9')."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(list(axes.flat)[:len(images)], images, titles, strict=True):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(title, fontsize=7)
    return _save(fig, path)


def plot_forecast(times, truth, forecast, lower, upper, baseline, path, title, zoom=200):
    """One-step-ahead forecast against the truth over the test period, with the prediction
    interval and a baseline; the right panel zooms on the last `zoom` points."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    for ax, part in zip(axes, (slice(None), slice(-zoom, None)), strict=True):
        ax.fill_between(times[part], lower[part], upper[part], color="tab:blue", alpha=0.2,
                        label="interval", linewidth=0)
        name, values = baseline
        ax.plot(times[part], values[part], color="tab:orange", linewidth=0.6, alpha=0.8,
                label=name)
        ax.plot(times[part], truth[part], color="black", linewidth=0.7, label="truth")
        ax.plot(times[part], forecast[part], color="tab:blue", linewidth=0.7, label="LSTM")
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    axes[0].set_title(title, fontsize=9)
    axes[1].set_title(f"the last {zoom} points", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper left")
    return _save(fig, path)
