"""The `seqpipe` command. Heavy libraries (Prefect, Ray, MLflow, torch) load lazily."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from seqpipe.errors import SeqpipeError

DEFAULT_CONFIG = Path("conf/pipeline.yaml")
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="seqpipe: corpus ingestion, vocabulary and sequence-model training pipelines.")
console = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config (default: conf/pipeline.yaml if present).")
SetOption = typer.Option(None, "--set", "-s", help="Override a config key, e.g. --set vocab.min_count=3 (repeatable).")


def friendly_errors(fn):
    """Show a user error as one red line and exit 1, instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SeqpipeError as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(1) from None
    return wrapper


def load(config: Optional[Path], sets: Optional[List[str]], extra: tuple[str, ...] = ()):
    from seqpipe import environment
    from seqpipe.config import load_config

    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    cfg = load_config(path, list(extra) + list(sets or []))
    environment.prepare(cfg.runtime.state_dir)
    return cfg


@app.command()
@friendly_errors
def ingest(
    sources: List[str] = typer.Argument(..., help="Files, folders, globs, URIs (s3://...), or hf:NAME datasets."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Folder that receives corpus-<hash>/."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Read sources into a sharded Parquet corpus (+ rejects/ and manifest.json)."""
    from rich.progress import Progress

    from seqpipe.ingest import run_ingest

    cfg = load(config, set_)
    ingest_cfg = cfg.ingest.model_copy(update={"sources": sources, "out": out or cfg.ingest.out})
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("ingesting", total=None)
        result = run_ingest(ingest_cfg, cfg.runtime, on_progress=lambda d, t: progress.update(bar, completed=d, total=t))
    c = result.counts
    console.print(f"{'reused' if result.reused else 'wrote'} corpus: {c['documents']:,} documents, "
                  f"{c['sentences']:,} sentences, {c['tokens']:,} tokens; rejected {c['rejected']:,} "
                  f"of {c['read']:,} records ({c['blank']:,} blank)")
    print(result.uri)


@app.command()
@friendly_errors
def vocab(
    corpus: str = typer.Argument(..., help="A corpus folder written by `seqpipe ingest`."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Folder that receives vocab-<hash>/."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Build the word and character vocabularies and the negative-sampling table."""
    from seqpipe.vocab import run_vocab

    cfg = load(config, set_)
    vocab_cfg = cfg.vocab.model_copy(update={"out": out or cfg.vocab.out})
    with console.status("counting tokens"):
        result = run_vocab(vocab_cfg, corpus, cfg.runtime)
    s = result.stats
    console.print(f"{'reused' if result.reused else 'wrote'} vocabulary: {s['size']:,} tokens "
                  f"(of {s['types']:,} types; {s['coverage']:.2%} of {s['tokens']:,} running tokens covered "
                  f"at min_count {s['min_count']}), {s['chars']:,} characters")
    print(result.uri)


@app.command()
@friendly_errors
def pipeline(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Run the whole pipeline as a Prefect flow (local Prefect, Ray and MLflow by default)."""
    cfg = load(config, set_)
    from flows.pipeline import pipeline as pipeline_flow

    summary = pipeline_flow(config=cfg)
    console.print(f"pipeline done: MLflow run {summary['mlflow_run_id']}")
    json.dump(summary, sys.stdout, indent=2)
    print()


@app.command()
@friendly_errors
def pretrain(
    corpus: str = typer.Option(..., "--corpus", help="A corpus folder written by `seqpipe ingest`."),
    vocab: str = typer.Option(..., "--vocab", help="A vocabulary folder written by `seqpipe vocab`."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train word embeddings (skip-gram, CBOW, GloVe) on Ray Train; prints the output folder."""
    from seqpipe.pretrain import run_pretrain

    cfg = load(config, set_)
    result = run_pretrain(cfg.embeddings, corpus, vocab, cfg.runtime)
    console.print(f"{'reused' if result.reused else 'wrote'} embeddings: {result.metrics}")
    print(result.uri)


@app.command("eval-embeddings")
@friendly_errors
def eval_embeddings(
    embeddings: Optional[str] = typer.Argument(None, help="An embeddings folder (default: the newest one)."),
    analogies: Optional[Path] = typer.Option(None, help="Analogy questions (Google questions-words.txt format)."),
    similarity: Optional[List[Path]] = typer.Option(None, help="Word-pair similarity files (WordSim353, SimLex-999)."),
    top_n: int = typer.Option(30_000, help="Search analogy answers among the top N words."),
    method: str = typer.Option("3cosadd", help="3cosadd or 3cosmul."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Analogy accuracy (per section) and similarity correlation of trained embeddings."""
    from rich.table import Table

    from seqpipe.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    table = Table("evaluation", "score", "used / total")
    if analogies:
        r = evaluate.evaluate_analogies(found.tokens, found.vectors, evaluate.load_analogies(analogies), top_n, method)
        for name, section in r["sections"].items():
            table.add_row(f"  {name}", f"{section['accuracy']:.1%}", f"{section['used']} / {section['total']}")
        table.add_row(f"analogies ({method}, top {top_n})", f"{r['accuracy']:.2%}", f"{r['used']} / {r['total']}")
    for path in similarity or []:
        r = evaluate.evaluate_similarity(found.tokens, found.vectors, evaluate.load_similarity(path))
        table.add_row(f"{path.name} (Spearman)", f"{r['spearman']:.3f}", f"{r['used']} / {r['total']}")
    Console().print(table)


@app.command()
@friendly_errors
def similar(word: str, k: int = typer.Option(10, "-k", help="How many neighbours."),
            embeddings: Optional[str] = typer.Option(None, help="An embeddings folder (default: the newest one)."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """The words nearest to WORD by cosine similarity."""
    from seqpipe.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    for neighbour, score in _lookup(lambda: evaluate.nearest(found.tokens, found.vectors, word.lower(), k)):
        print(f"{score:.3f}  {neighbour}")


@app.command()
@friendly_errors
def analogy(a: str, b: str, c: str, k: int = typer.Option(5, "-k", help="How many answers."),
            embeddings: Optional[str] = typer.Option(None, help="An embeddings folder (default: the newest one)."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """A is to B as C is to ? (3CosAdd over the vocabulary)."""
    from seqpipe.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    words = [w.lower() for w in (a, b, c)]
    for answer, score in _lookup(lambda: evaluate.analogy(found.tokens, found.vectors, *words, k=k)):
        print(f"{score:.3f}  {answer}")


def _embeddings(folder: Optional[str], config, sets):
    from seqpipe.pretrain import Embeddings

    return Embeddings.load(folder or _newest(load(config, sets), "embeddings"))


def _lookup(query):
    from seqpipe.errors import InputError

    try:
        return query()
    except KeyError as err:
        raise InputError(str(err.args[0]) if err.args else str(err)) from None


finetune_app = typer.Typer(no_args_is_help=True, help="Train a downstream model on the pretrained embeddings.")
app.add_typer(finetune_app, name="finetune")
ModelOption = typer.Option(None, "--model", "-m", help="A model folder, or models:/NAME@ALIAS, models:/NAME/VERSION, "
                           "runs:/RUN_ID/KIND (default: the newest trained folder).")


@finetune_app.command("ner")
@friendly_errors
def finetune_ner(
    train: Optional[str] = typer.Option(None, help="CoNLL training file(s): file, folder or glob (default: demo data)."),
    dev: Optional[str] = typer.Option(None, help="CoNLL validation file (default: a held-out part of train)."),
    test: Optional[str] = typer.Option(None, help="CoNLL test file, scored once with the best model."),
    embeddings: Optional[str] = typer.Option(None, help="Pretrained vectors: an embeddings folder or a "
                                             "word2vec/GloVe .txt/.bin file (default: the newest pretrained)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train the BiLSTM/GRU(-CRF) tagger on Ray Train; logs and registers seqpipe-ner in MLflow."""
    from seqpipe import tracking
    from seqpipe.ner.stage import run_ner, with_demo_data

    cfg = load(config, set_)
    ner = cfg.ner.model_copy(update={k: v for k, v in {"train_path": train, "dev_path": dev, "test_path": test}.items() if v})
    ner = with_demo_data(ner, cfg.runtime.state_dir, cfg.demo.ner_sentences)
    vectors = embeddings or (_newest(cfg, "embeddings", required=False) if ner.embeddings.pretrained else None)
    with tracking.stage_run(cfg.runtime, "ner", ner) as run_id:
        result = run_ner(ner, cfg.runtime, vectors, mlflow_run_id=run_id)
        tracking.log_trained_model(result.uri, result.reused, "ner", None if result.reused else "seqpipe-ner",
                                   ["Yesterday, Harry Potter met Hermione Granger in London."])
    m = result.metrics
    console.print(f"{'reused' if result.reused else 'trained'} tagger: dev F1 {m.get('dev_f1', 0):.4f}"
                  + (f", test F1 {m['test_f1']:.4f}" if "test_f1" in m else ""))
    print(result.uri)


@finetune_app.command("lm")
@friendly_errors
def finetune_lm(
    corpus: Optional[str] = typer.Option(None, help="A corpus folder (default: the newest one)."),
    vocab: Optional[str] = typer.Option(None, help="A vocabulary folder (default: the newest one)."),
    embeddings: Optional[str] = typer.Option(None, help="Pretrained vectors (default: the newest pretrained)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train the word- or character-level language model; logs and registers seqpipe-lm in MLflow."""
    from seqpipe import tracking
    from seqpipe.lm.stage import run_lm

    cfg = load(config, set_)
    corpus, vocab = corpus or _newest(cfg, "corpus"), vocab or _newest(cfg, "vocab")
    vectors = embeddings or (_newest(cfg, "embeddings", required=False) if cfg.lm.embeddings.pretrained else None)
    with tracking.stage_run(cfg.runtime, "lm", cfg.lm) as run_id:
        result = run_lm(cfg.lm, corpus, vocab, cfg.runtime, vectors, mlflow_run_id=run_id)
        tracking.log_trained_model(result.uri, result.reused, "lm", None if result.reused else "seqpipe-lm",
                                   ["apple and pear salad", "apple and pair salad"])
    m = result.metrics
    console.print(f"{'reused' if result.reused else 'trained'} language model: dev perplexity "
                  f"{m['dev_perplexity']:.1f} (unigram baseline {m['unigram_perplexity']:.1f})")
    print(result.uri)


@finetune_app.command("translation")
@friendly_errors
def finetune_translation(
    source: Optional[str] = typer.Option(None, help="Training source sentences, aligned line by line with --target."),
    target: Optional[str] = typer.Option(None, help="Training target sentences."),
    table: Optional[str] = typer.Option(None, help="Or one TSV/JSONL/CSV/Parquet table of pairs (default: demo dates)."),
    embeddings: Optional[str] = typer.Option(None, help="Pretrained source vectors (word level; default: none)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train the attention encoder-decoder; logs and registers seqpipe-translator in MLflow."""
    from seqpipe import tracking
    from seqpipe.config import ParallelFiles
    from seqpipe.translation.stage import run_translation, with_demo_data

    cfg = load(config, set_)
    tr = cfg.translation
    if source or target or table:
        tr = tr.model_copy(update={"train_data": ParallelFiles(source=source, target=target, table=table)})
    tr = with_demo_data(tr, cfg.runtime.state_dir, cfg.demo.translation_pairs)
    with tracking.stage_run(cfg.runtime, "translation", tr) as run_id:
        result = run_translation(tr, cfg.runtime, embeddings, mlflow_run_id=run_id)
        tracking.log_trained_model(result.uri, result.reused, "translation",
                                   None if result.reused else "seqpipe-translator", TRANSLATION_EXAMPLES)
    m = result.metrics
    console.print(f"{'reused' if result.reused else 'trained'} translator: BLEU greedy {m['bleu_greedy']:.2f}, "
                  f"beam {m['bleu_beam']:.2f}, exact match {m['exact_match_beam']:.2%}")
    print(result.uri)


TRANSLATION_EXAMPLES = ["mardi 25 septembre 1984", "le 3 mars 2021"]


@app.command()
@friendly_errors
def translate(text: List[str] = typer.Argument(..., help="Sentences to translate (one per argument)."),
              beam: Optional[int] = typer.Option(None, "--beam", "-b", help="Beam width; 0 = greedy (default: translation.beam)."),
              alpha: Optional[float] = typer.Option(None, "--alpha", "-a", help="Length normalisation (default: translation.alpha)."),
              model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
              set_: Optional[List[str]] = SetOption):
    """Translate TEXT with beam search (or greedy with --beam 0)."""
    cfg = load(config, set_)
    translator = _model(model, "translation", config, set_)
    beam = cfg.translation.beam if beam is None else beam
    alpha = cfg.translation.alpha if alpha is None else alpha
    for output in translator.translate(text, beam, alpha):
        print(output)


@app.command("analyze-beam")
@friendly_errors
def analyze_beam(model: Optional[str] = ModelOption, rows: int = typer.Option(20, help="Table rows to show."),
                 config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Beam-search error analysis of a trained translator: is the search or the model at fault?"""
    from rich.table import Table

    from seqpipe.artifacts import read_json

    translator = _model(model, "translation", config, set_)
    m = read_json(translator.folder / "metrics.json")
    lines = (translator.folder / "beam_errors.tsv").read_text(encoding="utf-8").split("\n")
    table = Table(*lines[0].split("\t"))
    for line in lines[1:rows + 1]:
        if line:
            table.add_row(*line.split("\t"))
    Console().print(table)
    print(f"{m['beam_errors']} wrong of {m['beam_sentences']} dev sentences: search at fault "
          f"{m['beam_search_fault_fraction']:.1%}, model at fault {m['beam_model_fault_fraction']:.1%}")
    for key in sorted(k for k in m if k.startswith("sweep_bleu_")):
        print(f"{key[11:]:>10}  BLEU {m[key]:.2f}")


@finetune_app.command("speech")
@friendly_errors
def finetune_speech(
    train: Optional[str] = typer.Option(None, help="Manifest (path,transcript[,speaker]) or folder of recordings "
                                        "(default: the synthesised demo voices)."),
    dev: Optional[str] = typer.Option(None, help="Validation manifest (default: part of train)."),
    test: Optional[str] = typer.Option(None, help="Test manifest."),
    lm: Optional[str] = typer.Option(None, help="A character-level lm-<hash> folder for shallow fusion."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train the CTC speech recogniser; logs and registers seqpipe-asr in MLflow."""
    from seqpipe import tracking
    from seqpipe.speech.stage import run_speech, with_demo_data

    cfg = load(config, set_)
    sp = cfg.speech.model_copy(update={k: v for k, v in {"train_manifest": train, "dev_manifest": dev,
                                                         "test_manifest": test}.items() if v})
    sp = with_demo_data(sp, cfg.runtime.state_dir, cfg.demo.speech_utterances)
    fusion = lm or (sp.fusion_lm if sp.fusion_lm not in (None, "auto") else None)
    with tracking.stage_run(cfg.runtime, "speech", sp) as run_id:
        result = run_speech(sp, cfg.runtime, fusion, mlflow_run_id=run_id)
        example = [str(next(Path(sp.train_manifest).parent.rglob("*.wav"), sp.train_manifest))]
        tracking.log_trained_model(result.uri, result.reused, "speech", None if result.reused else "seqpipe-asr", example)
    m = result.metrics
    console.print(f"{'reused' if result.reused else 'trained'} recogniser: CER greedy {m['cer_greedy']:.2%}, "
                  f"beam {m['cer_beam']:.2%}" + (f", beam + LM {m['cer_beam_lm']:.2%}" if "cer_beam_lm" in m else ""))
    print(result.uri)


@app.command()
@friendly_errors
def transcribe(audio: List[Path] = typer.Argument(..., help="Audio files (WAV, FLAC, OGG; any sample rate)."),
               beam: int = typer.Option(0, "--beam", "-b", help="Prefix beam width; 0 = greedy."),
               lm: Optional[str] = typer.Option(None, help="A character-level lm-<hash> folder for shallow fusion."),
               model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
               set_: Optional[List[str]] = SetOption):
    """Print the transcript of each audio file."""
    cfg = load(config, set_)
    transcriber = _model(model, "speech", config, set_)
    for path in audio:
        print(f"{path}\t{transcriber.transcribe(path, beam, lm, cfg.speech.lm_alpha, cfg.speech.lm_beta)}")


@app.command()
@friendly_errors
def tag(text: List[str] = typer.Argument(..., help="Text to tag (several arguments: one text each)."),
        model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
        set_: Optional[List[str]] = SetOption):
    """Print the named entities of TEXT."""
    tagger = _model(model, "ner", config, set_)
    for one in text:
        entities = tagger.entities(one)
        for e in entities:
            print(f"{e['type']}\t{e['text']}\t{e['start']}-{e['end']}")
        if not entities:
            console.print("no entities found")


@app.command()
@friendly_errors
def sample(n: int = typer.Option(5, "--n", "-n", help="How many sequences."),
           temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="0 = greedy; 1 = the "
                                                       "model's distribution; >1 = more varied (default: lm.temperature)."),
           max_len: Optional[int] = typer.Option(None, help="Longest sequence (default: lm.max_sample_len)."),
           seed: Optional[int] = typer.Option(None, help="Seed for reproducible samples."),
           model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
           set_: Optional[List[str]] = SetOption):
    """Sample novel sequences from the language model, token by token until <eos>."""
    cfg = load(config, set_)
    lm = _model(model, "lm", config, set_)
    temperature = cfg.lm.temperature if temperature is None else temperature
    for line in lm.sample(n, temperature, max_len or cfg.lm.max_sample_len, seed):
        print(line)


@app.command()
@friendly_errors
def score(text: List[str] = typer.Argument(..., help="Sentences to score (one per argument)."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print every token's log-probability."),
          model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
          set_: Optional[List[str]] = SetOption):
    """Print log P(sentence) under the language model (natural log, <eos> included)."""
    lm = _model(model, "lm", config, set_)
    for one in text:
        result = lm.score(one)
        print(f"{result['log_prob']:.3f}\t{one}")
        if result["unknown"]:
            console.print(f"  unknown to the model (scored as <unk>): {', '.join(result['unknown'])}")
        if verbose:
            for token, lp in zip(result["tokens"], result["log_probs"]):
                print(f"  {lp:8.3f}  {token}")


def _model(uri: Optional[str], kind: str, config, sets):
    """A trained NER tagger / language model from a folder, the registry, or the newest folder."""
    cfg = load(config, sets)
    if uri and uri.split(":/")[0] in ("models", "runs"):
        from seqpipe import tracking

        with console.status(f"loading {uri}"):
            return tracking.load_text_model(cfg.runtime, uri)
    if kind == "ner":
        from seqpipe.ner.tagging import NerTagger

        return NerTagger(uri or _newest(cfg, "ner"))
    if kind == "translation":
        from seqpipe.translation.translator import Translator

        return Translator(uri or _newest(cfg, "translation"))
    if kind == "speech":
        from seqpipe.speech.transcriber import Transcriber

        return Transcriber(uri or _newest(cfg, "speech"))
    from seqpipe.lm.generate import LanguageModelFolder

    return LanguageModelFolder(uri or _newest(cfg, "lm"))


def _newest(cfg, kind: str, required: bool = True) -> Optional[str]:
    """The most recently written <kind>-<hash> folder under the configured output folder."""
    from seqpipe.artifacts import is_complete
    from seqpipe.errors import InputError

    section = getattr(cfg, kind, None) if kind != "corpus" else cfg.ingest
    root = Path(getattr(section, "out", None) or Path(cfg.runtime.state_dir) / kind)
    found = sorted((p for p in root.glob(f"{kind}-*") if is_complete(p)), key=lambda p: p.stat().st_mtime)
    if not found and required:
        raise InputError(f"no {kind} folder under {root}; run `seqpipe pipeline` (or the {kind} stage) first")
    return str(found[-1]) if found else None


@app.command("demo-corpus")
@friendly_errors
def demo_corpus(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Write the demo corpus (docstrings of the installed packages) and print its folder."""
    from seqpipe.demo import build_demo_corpus

    cfg = load(config, set_)
    with console.status("collecting docstrings"):
        print(build_demo_corpus(cfg.runtime.state_dir, cfg.demo.max_mb))


if __name__ == "__main__":
    app()
