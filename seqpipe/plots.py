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
