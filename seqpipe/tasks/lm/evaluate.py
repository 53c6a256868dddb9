"""After training: the best epoch's dev perplexity and loss, and a few sampled sentences."""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import LmConfig


def evaluate_model(folder: Path, cfg: LmConfig, progress: dict, n_samples: int = 5) -> dict:
    """dev_perplexity (the best epoch's), its dev_loss, and samples of the best model."""
    from seqpipe.tasks.lm.predictor import LanguageModelFolder

    best = next(h for h in progress["history"] if h.get("dev_perplexity") == progress["best"])
    samples = LanguageModelFolder(folder).sample(n=n_samples, temperature=cfg.temperature,
                                                 max_len=cfg.max_sample_len, seed=cfg.train.seed)
    return {"dev_perplexity": progress["best"], "dev_loss": best["dev_loss"], "samples": samples}


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """The dev sentences are held out of the corpus: the same corpus and settings give the same set."""
    from seqpipe.core.artifacts import read_json

    corpus = read_json(Path(inputs.corpus) / "manifest.json")["content_hash"]
    return [], {"corpus": corpus, "level": cfg.level, "dev_sentences": cfg.dev_sentences, "max_len": cfg.max_len}
