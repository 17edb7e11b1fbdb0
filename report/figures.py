"""The report's figures, one matplotlib Figure per function (numpy in, Figure out).

Only ``report.build`` saves them; every function here is pure apart from drawing.
"""

from __future__ import annotations

import numpy as np

GALLERY = 12  # images in the misclassified and disagreement galleries
FLOAT_COLOR, INT8_COLOR, TRUE_COLOR, WRONG_COLOR = "#4c72b0", "#dd8452", "#2a9d4a", "#c0392b"


def pyplot():
    """matplotlib.pyplot on the file-only Agg back-end (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def samples(x: np.ndarray, y: np.ndarray, labels: list[str], per_class: int = 6):
    """A grid of test images, one row per class, with their labels: the first look at the data."""
    plt = pyplot()
    fig, axes = plt.subplots(len(labels), per_class, figsize=(per_class * 1.1, len(labels) * 1.15))
    for c, row in enumerate(np.atleast_2d(axes)):
        picks = np.flatnonzero(y == c)[:per_class]
        for ax, i in zip(row, list(picks) + [None] * (per_class - len(picks))):
            ax.axis("off")
            if i is not None:
                ax.imshow(x[i], cmap="gray_r", vmin=0, vmax=255)
        row[0].set_title(labels[c], fontsize=8, loc="left")
    fig.suptitle("Test images by class")
    fig.tight_layout()
    return fig


def class_counts(y_train: np.ndarray, y_test: np.ndarray, labels: list[str]):
    """Images per class in the training and test splits."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    idx, width = np.arange(len(labels)), 0.4
    bars = ((-width / 2, y_train, "train", FLOAT_COLOR), (width / 2, y_test, "test", INT8_COLOR))
    for offset, y, name, color in bars:
        ax.bar(idx + offset, np.bincount(y, minlength=len(labels)), width, label=name, color=color)
    ax.set_xticks(idx, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("images")
    ax.set_title("Images per class")
    ax.legend()
    fig.tight_layout()
    return fig


def training_curves(history: dict[str, list[float]]):
    """Loss and accuracy per epoch, training and validation (metrics.json's history)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, name in ((metric, "train"), (f"val_{metric}", "validation")):
            values = history.get(key, [])
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_pair(matrices: dict[str, np.ndarray], labels: list[str]):
    """Confusion matrices side by side (rows: true class, columns: predicted), counts in the cells."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices), 4.8))
    for ax, (name, m) in zip(np.atleast_1d(axes), matrices.items()):
        ax.imshow(m, cmap="Blues")
        for (i, j), n in np.ndenumerate(m):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=6,
                        color="white" if n > m.max() / 2 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: {np.trace(m) / max(m.sum(), 1):.2%}")
    fig.tight_layout()
    return fig


def per_class_accuracy(recalls: dict[str, np.ndarray], labels: list[str]):
    """Accuracy (recall) of each class, one bar per model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    idx, width = np.arange(len(labels)), 0.8 / len(recalls)
    for k, ((name, r), color) in enumerate(zip(recalls.items(), (FLOAT_COLOR, INT8_COLOR))):
        ax.bar(idx + (k - (len(recalls) - 1) / 2) * width, 100 * r, width, label=name, color=color)
    ax.set_xticks(idx, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(max(0, 100 * min(r.min() for r in recalls.values()) - 10), 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per class")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def gallery(x: np.ndarray, indices: np.ndarray, scores: dict[str, np.ndarray], y: np.ndarray, labels: list[str],
            title: str):
    """Images with their true label and each model's probability bars (the Keras tutorials'
    ``plot_image`` / ``plot_value_array``): the true class green, a wrong top class red."""
    plt = pyplot()
    indices = list(indices[:GALLERY])
    cols = 3
    rows = max(1, -(-len(indices) // cols))
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(4.4 * cols, 1.9 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 2] * cols})
    for ax in axes.flat:
        ax.axis("off")
    for k, i in enumerate(indices):
        img_ax, bar_ax = axes[k // cols, 2 * (k % cols)], axes[k // cols, 2 * (k % cols) + 1]
        img_ax.imshow(x[i], cmap="gray_r", vmin=0, vmax=255)
        names = ", ".join(f"{n}: {labels[int(s[i].argmax())]}" for n, s in scores.items())
        img_ax.set_title(f"true {labels[int(y[i])]}\n{names}", fontsize=6)
        _probability_bars(bar_ax, {n: s[i] for n, s in scores.items()}, int(y[i]), len(labels))
    if not indices:
        axes[0, 0].text(0, 0.5, "none", fontsize=12)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _probability_bars(ax, scores: dict[str, np.ndarray], true: int, n: int) -> None:
    ax.axis("on")
    width = 0.8 / len(scores)
    for k, (_name, s) in enumerate(scores.items()):
        colors = [TRUE_COLOR if c == true else WRONG_COLOR if c == s.argmax() else "#999999" for c in range(n)]
        ax.bar(np.arange(n) + (k - (len(scores) - 1) / 2) * width, s, width, color=colors,
               alpha=1.0 if k == 0 else 0.55)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(n), [str(c) for c in range(n)], fontsize=5)
    ax.set_yticks([])


def weight_maps(weights: list[np.ndarray], labels: list[str], units: int = 16):
    """What the first layer learned, as 28x28 maps, positive red and negative blue.

    A linear model (one layer): one map per class. A dense one: the hidden units whose
    outgoing weights are largest (the strongest), with the class each one pushes most.
    """
    plt = pyplot()
    first = weights[0]
    if len(weights) == 1:
        maps, titles = first, list(labels)
    else:
        out = weights[1]  # [classes, hidden]
        strongest = np.argsort(np.linalg.norm(out, axis=0))[::-1][:units]
        maps = first[strongest]
        titles = [f"unit {u} -> {labels[int(out[:, u].argmax())]}" for u in strongest]
    cols = min(8, len(maps))
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m, title in zip(axes.flat, maps, titles):
        limit = np.abs(m).max() or 1.0
        ax.imshow(m.reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=6)
    fig.suptitle("Learned weights: " + ("one map per class" if len(weights) == 1 else
                                        f"the {len(maps)} strongest hidden units"))
    fig.tight_layout()
    return fig
