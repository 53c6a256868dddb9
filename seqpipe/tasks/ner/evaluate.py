"""After training: entity-level scores of the best epoch's tagger on the dev and test splits."""
from __future__ import annotations

from pathlib import Path

from seqpipe.tasks.ner.conll import ConllData
from seqpipe.tasks.ner.task import Encoder, build_tagger, entity_scores, predict


def evaluate_model(folder: Path, best_state: dict, data: dict[str, ConllData]) -> dict:
    """dev_* and test_* entity precision, recall and F1 (overall and per type)."""
    model = build_tagger(folder, with_init=False)
    model.load_state_dict(best_state)
    model.eval()
    encoder, metrics = Encoder(folder), {}
    for split in ("dev", "test"):
        if split in data:
            examples = [encoder.encode(s.tokens, s.tags) for s in data[split].sentences]
            gold = [e["gold"] for e in examples]
            scores = entity_scores(list(zip(gold, predict(model, encoder, examples))))
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    return metrics


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """What the gate's scores are measured on: the test files, else the held-out part of train,
    read as the settings say (which columns, which tag scheme: iob1 and iob2 make other entities)."""
    reading = {"token_column": cfg.token_column, "tag_column": cfg.tag_column, "scheme": cfg.scheme}
    if cfg.test_path:
        return [cfg.test_path], reading
    return [cfg.train_path, cfg.dev_path], {**reading, "dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed}
