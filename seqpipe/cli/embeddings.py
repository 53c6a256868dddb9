"""The word-embedding commands of `seqpipe`: pretrain, eval-embeddings, similar, analogy."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from seqpipe.cli.app import ConfigOption, SetOption, _newest, app, console, friendly_errors, load


@app.command()
@friendly_errors
def pretrain(
    corpus: str = typer.Option(..., "--corpus", help="A corpus folder written by `seqpipe ingest`."),
    vocab: str = typer.Option(..., "--vocab", help="A vocabulary folder written by `seqpipe vocab`."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train word embeddings (skip-gram, CBOW, GloVe) on Ray Train; prints the output folder."""
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.embeddings import stage

    cfg = load(config, set_)
    result = stage.run(cfg.embeddings, StageInputs(corpus=corpus, vocab=vocab), cfg.runtime)
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

    from seqpipe.tasks.embeddings import evaluate

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
    from seqpipe.tasks.embeddings import evaluate

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
    from seqpipe.tasks.embeddings import evaluate

    found = _embeddings(embeddings, config, set_)
    words = [w.lower() for w in (a, b, c)]
    for answer, score in _lookup(lambda: evaluate.analogy(found.tokens, found.vectors, *words, k=k)):
        print(f"{score:.3f}  {answer}")


def _embeddings(folder: Optional[str], config, sets):
    from seqpipe.data.vectors import Embeddings

    cfg = load(config, sets)
    if folder and folder.startswith(("models:/", "runs:/")):  # a registered version, e.g. @champion
        from seqpipe.tracking import runs as tracking

        return tracking.load_registered(cfg.runtime, folder)  # WordVectors: tokens and vectors
    from seqpipe.core.stage import local_folder

    return Embeddings.load(local_folder(folder or _newest(cfg, "embeddings"), cfg.runtime.store_cache))


def _lookup(query):
    from seqpipe.core.errors import InputError

    try:
        return query()
    except KeyError as err:
        raise InputError(str(err.args[0]) if err.args else str(err)) from None
