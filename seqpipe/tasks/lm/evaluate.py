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
    """What dev perplexity is measured on: the sentences held out (the corpus, train.seed and
    dev_sentences pick them) and the units they are predicted as, over which inventory (the
    level, and the vocabulary's tokens or the subword model's settings: a vocabulary that folds
    more words into <unk> predicts easier tokens). Perplexities of different sets are not compared."""
    from seqpipe.core.artifacts import read_json, sha256_json
    from seqpipe.data.vocab import Vocabulary

    corpus = read_json(Path(inputs.corpus) / "manifest.json")["content_hash"]
    vocab = Vocabulary.load(inputs.vocab, "chars" if cfg.level == "char" else "vocab")
    units = ({"subword": cfg.subword.model_dump(), "specials": vocab.specials} if cfg.level == "subword"
             else {"tokens": sha256_json(vocab.tokens)})
    return [], {"corpus": corpus, "level": cfg.level, "units": units, "dev_sentences": cfg.dev_sentences,
                "seed": cfg.train.seed, "max_len": cfg.max_len}
