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
    from seqpipe import environment, services
    from seqpipe.config import load_config

    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    cfg = load_config(path, list(extra) + list(sets or []))
    environment.prepare(cfg.runtime.state_dir)
    return services.use_running(cfg)  # the servers of `seqpipe up`, when they run


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
def pipeline(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption,
             stage: Optional[str] = typer.Option(None, help="Only this stage and what it needs: ingest, vocab, "
                                                 "pretrain, finetune-ner, finetune-lm, finetune-translation, "
                                                 "finetune-speech (default: every stage).")):
    """Run the whole pipeline as a Prefect flow (local Prefect, Ray and MLflow by default)."""
    from seqpipe.errors import InputError

    cfg = load(config, set_)
    from flows.pipeline import pipeline as pipeline_flow
    from flows.stages import STAGE_FLOWS

    if stage is not None and stage not in STAGE_FLOWS:
        raise InputError(f"no stage {stage!r}; choose from {', '.join(STAGE_FLOWS)}")
    summary = (STAGE_FLOWS[stage] if stage else pipeline_flow)(config=cfg)
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
            embeddings: Optional[str] = typer.Option(None, help="An embeddings folder or models:/seqpipe-embeddings@"
                                                     "champion (default: the newest folder)."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """The words nearest to WORD by cosine similarity."""
    from seqpipe.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    for neighbour, score in _lookup(lambda: evaluate.nearest(found.tokens, found.vectors, word.lower(), k)):
        print(f"{score:.3f}  {neighbour}")


@app.command()
@friendly_errors
def analogy(a: str, b: str, c: str, k: int = typer.Option(5, "-k", help="How many answers."),
            embeddings: Optional[str] = typer.Option(None, help="An embeddings folder or models:/seqpipe-embeddings@"
                                                     "champion (default: the newest folder)."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """A is to B as C is to ? (3CosAdd over the vocabulary)."""
    from seqpipe.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    words = [w.lower() for w in (a, b, c)]
    for answer, score in _lookup(lambda: evaluate.analogy(found.tokens, found.vectors, *words, k=k)):
        print(f"{score:.3f}  {answer}")


def _embeddings(folder: Optional[str], config, sets):
    from seqpipe.pretrain import Embeddings

    cfg = load(config, sets)
    if folder and folder.startswith(("models:/", "runs:/")):  # a registered version, e.g. @champion
        from seqpipe import tracking

        tokens, vectors = tracking.load_word_vectors(cfg.runtime, folder)
        return Embeddings(tokens, vectors, folder)
    return Embeddings.load(folder or _newest(cfg, "embeddings"))


def _lookup(query):
    from seqpipe.errors import InputError

    try:
        return query()
    except KeyError as err:
        raise InputError(str(err.args[0]) if err.args else str(err)) from None


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


from seqpipe import cli_models, cli_ops  # noqa: E402,F401  (register finetune, tag, ..., up, down, serve, compare)

if __name__ == "__main__":  # python -m seqpipe.cli: the app of the imported module, where every command is
    from seqpipe.cli import app as seqpipe_app

    seqpipe_app()
