"""The data commands of `seqpipe`: ingest, vocab, demo-corpus."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from seqpipe.cli.app import ConfigOption, SetOption, app, console, friendly_errors, load


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

    from seqpipe.data.ingest import run_ingest

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
    from seqpipe.data.vocab import run_vocab

    cfg = load(config, set_)
    vocab_cfg = cfg.vocab.model_copy(update={"out": out or cfg.vocab.out})
    with console.status("counting tokens"):
        result = run_vocab(vocab_cfg, corpus, cfg.runtime)
    s = result.stats
    console.print(f"{'reused' if result.reused else 'wrote'} vocabulary: {s['size']:,} tokens "
                  f"(of {s['types']:,} types; {s['coverage']:.2%} of {s['tokens']:,} running tokens covered "
                  f"at min_count {s['min_count']}), {s['chars']:,} characters")
    print(result.uri)


@app.command("demo-corpus")
@friendly_errors
def demo_corpus(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Write the demo corpus (English prose that installed packages ship, or their docstrings) and print its folder."""
    from seqpipe.data.demo_corpus import build_demo_corpus

    cfg = load(config, set_)
    with console.status("collecting the demo corpus"):
        print(build_demo_corpus(cfg.runtime.local_dir, cfg.demo.max_mb, cfg.demo.corpus))
