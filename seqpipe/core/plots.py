"""Figures saved as PNG files (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def zipf_plot(counts: np.ndarray, path: str | Path, title: str = "Zipf plot") -> Path:
    """Rank/frequency on log-log axes, with the ideal 1/rank line through the top word."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.sort(np.asarray(counts)[np.asarray(counts) > 0])[::-1]
    ranks = np.arange(1, len(counts) + 1)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.loglog(ranks, counts, label="observed")
    if len(counts):
        ax.loglog(ranks, counts[0] / ranks, "--", label="count(1) / rank")
    ax.set(xlabel="rank", ylabel="count", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


ANALOGY_WORDS = ["man", "woman", "king", "queen", "boy", "girl", "father", "mother", "paris", "france",
                 "berlin", "germany", "good", "better", "bad", "worse", "read", "reading", "write", "writing"]


def tsne_plot(tokens: list[str], vectors: np.ndarray, path: str | Path, top: int = 300, seed: int = 0) -> Path:
    """2-D t-SNE (scikit-learn) of the most frequent words plus analogy words present."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    index = {t: i for i, t in enumerate(tokens)}
    extra = [index[w] for w in ANALOGY_WORDS if w in index and index[w] >= top]
    rows = list(range(min(top, len(tokens)))) + extra
    points = TSNE(n_components=2, perplexity=min(30, max(2, len(rows) // 4)), init="pca",
                  random_state=seed).fit_transform(vectors[rows])
    fig, ax = plt.subplots(figsize=(11, 11), dpi=100)
    highlight = {index[w] for w in ANALOGY_WORDS if w in index}
    for (x, y), row in zip(points, rows):
        ax.annotate(tokens[row], (x, y), fontsize=9 if row in highlight else 6,
                    color="crimson" if row in highlight else "black")
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4)
    ax.set(title=f"t-SNE of the {min(top, len(tokens))} most frequent words (analogy words in red)", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def confusion_plot(gold: list[str], predicted: list[str], labels: list[str], path: str | Path,
                   title: str = "Confusion matrix") -> Path:
    """The confusion matrix (scikit-learn): true labels down, predicted across, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(2.5 + 0.6 * len(labels), 2 + 0.6 * len(labels)), dpi=100)
    ConfusionMatrixDisplay.from_predictions(gold, predicted, labels=labels, ax=ax, colorbar=False, cmap="Blues",
                                            xticks_rotation=45 if len(labels) > 4 else "horizontal")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
