"""After training: test scores for greedy and beam search, decoding speed, the beam/alpha
sweep, beam-search error analysis and attention plots, written into the model folder."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from seqpipe.config import TranslationConfig
from seqpipe.decoding.analysis import analyse
from seqpipe.decoding.search import greedy
from seqpipe.core.paths import load_weights
from seqpipe.tasks.translation.task import (BOS, EOS, Vocabularies, build_model, collate, corpus_scores,
                                            decode_hypotheses, spread)

SWEEP = [(beam, alpha) for beam in (1, 3, 10) for alpha in (0.0, 0.7, 1.0)]


def load_translator(folder: Path):
    model = build_model(folder, with_init=False)
    model.load_state_dict(load_weights(folder / "model.pt"))
    return model.eval(), Vocabularies(folder)


def decode(model, examples: list[dict], beam: int, alpha: float, max_len: int, batch_size: int = 64) -> list[list[int]]:
    """Best output ids per example (see decode_hypotheses)."""
    return [h.tokens for h in decode_hypotheses(model, examples, beam, alpha, max_len, batch_size)]


def evaluate_model(folder: Path, cfg: TranslationConfig, tokens: dict) -> dict:
    model, vocab = load_translator(folder)
    split = "test" if tokens.get("test") else "dev"
    examples = [{"src": vocab.encode_source(s), "tgt": vocab.encode_target(t), "ref": r} for s, t, r in tokens[split]]
    dev = [{"src": vocab.encode_source(s), "tgt": vocab.encode_target(t), "ref": r}
           for s, t, r in spread(tokens["dev"], cfg.analysis_sentences)]
    max_len = cfg.max_tokens * 2
    metrics = {"evaluated_on": split}
    for name, beam in (("greedy", 0), ("beam", cfg.beam)):
        started = time.perf_counter()
        outputs = decode(model, examples, beam, cfg.alpha, max_len)
        metrics[f"decode_{name}_sent_per_s"] = len(examples) / (time.perf_counter() - started)
        hypotheses = [vocab.decode_target(o) for o in outputs]
        metrics.update({f"{k}_{name}": v for k, v in corpus_scores(hypotheses, [e["ref"] for e in examples]).items()})
    metrics.update(analyse_beam(folder, model, vocab, dev, cfg))
    if cfg.sweep:
        for beam, alpha in SWEEP:
            hypotheses = [vocab.decode_target(o) for o in decode(model, dev, beam, alpha, max_len)]
            metrics[f"sweep_bleu_b{beam}_a{alpha:g}"] = corpus_scores(hypotheses, [e["ref"] for e in dev])["bleu"]
    plot_attention(folder, model, vocab, examples[: cfg.attention_plots], max_len)
    return metrics


def analyse_beam(folder: Path, model, vocab: Vocabularies, examples: list[dict], cfg: TranslationConfig) -> dict:
    """Is the search or the model at fault for each wrong beam output? Writes beam_errors.tsv.

    The verdict compares the objective the beam search maximised, log P / T^alpha with the
    decode's own alpha (cfg.alpha); the raw log-probabilities are kept beside it.
    """
    found = decode_hypotheses(model, examples, cfg.beam, cfg.alpha, cfg.max_tokens * 2)
    batch = collate(examples, training=False)
    with torch.no_grad():
        cases, summary = analyse(model, batch["src"], batch["src_lengths"], [e["tgt"] for e in examples],
                                 [h.tokens for h in found], BOS, EOS, alpha=cfg.alpha,
                                 output_ended=[h.ended for h in found])
    rows = ["source\treference\toutput\tlog_p_reference\tlog_p_output\tscore_reference\tscore_output\tat_fault"]
    for case in cases:
        if case.at_fault != "none":
            rows.append("\t".join([vocab.decode_source(examples[case.index]["src"]), vocab.decode_target(case.reference),
                                   vocab.decode_target(case.output), f"{case.ref_log_prob:.4f}",
                                   f"{case.out_log_prob:.4f}", f"{case.ref_score:.4f}", f"{case.out_score:.4f}",
                                   case.at_fault]))
    (folder / "beam_errors.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"beam_" + k: v for k, v in summary.items()} | {"beam_analysis_alpha": cfg.alpha}


def plot_attention(folder: Path, model, vocab: Vocabularies, examples: list[dict], max_len: int) -> None:
    """Heatmaps of the attention weights alpha<t, t'> of greedy translations (plots/attention-N.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (folder / "plots").mkdir(exist_ok=True)
    for n, example in enumerate(examples):
        batch = collate([example], training=False)
        with torch.no_grad():
            hyp = greedy(model, batch["src"], batch["src_lengths"], BOS, EOS, max_len, return_attention=True)[0]
        weights = hyp.attention[:, : len(example["src"])].numpy()  # a row per output step, <eos> included
        outputs = [repr(vocab.target[i])[1:-1] for i in hyp.tokens] + ["<eos>"] * (len(weights) - len(hyp.tokens))
        fig, ax = plt.subplots(figsize=(max(4, len(example["src"]) * 0.3), max(3, len(weights) * 0.3)))
        ax.imshow(weights, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(example["src"])), [repr(vocab.source[i])[1:-1] for i in example["src"]], rotation=90)
        ax.set_yticks(range(len(weights)), outputs)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        fig.tight_layout()
        fig.savefig(folder / "plots" / f"attention-{n}.png", dpi=80)
        plt.close(fig)


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """The test files, else the dev files, else the held-out part of the training files, read as
    the settings say: the table's fields, and which pairs are over-long (max_chars, and max_tokens
    at the token level: such pairs are rejected, from the scored split too)."""
    reading = {"source_field": cfg.source_field, "target_field": cfg.target_field, "max_chars": cfg.max_chars,
               "max_tokens": cfg.max_tokens, "level": cfg.level, "auto_subword_types": cfg.auto_subword_types,
               "subword": cfg.subword.model_dump()}
    for files in (cfg.test_data, cfg.dev_data):
        if files.table or files.source:
            return [files.table, files.source, files.target], reading
    train = cfg.train_data
    return [train.table, train.source, train.target], {**reading, "dev_fraction": cfg.dev_fraction,
                                                       "seed": cfg.train.seed}
