"""The downstream-model commands of `seqpipe`: finetune ner|lm|translation|speech|sentiment|captioning,
and the inference commands tag, sample, score, translate, analyze-beam, transcribe, classify, caption."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from seqpipe.cli.app import ConfigOption, SetOption, VerboseOption, _newest, app, console, friendly_errors, load

finetune_app = typer.Typer(no_args_is_help=True, help="Train a downstream model: ner, lm, translation, speech, "
                           "sentiment, captioning.")
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
    verbose: bool = VerboseOption,
):
    """Train the BiLSTM/GRU(-CRF) tagger on Ray Train; logs, registers and gates seqpipe-ner in MLflow."""
    from seqpipe.tasks.ner.data import with_demo_data

    cfg = load(config, set_)
    ner = cfg.ner.model_copy(update={k: v for k, v in {"train_path": train, "dev_path": dev, "test_path": test}.items() if v})
    ner = with_demo_data(ner, cfg.runtime.local_dir, cfg.demo)
    vectors = embeddings or (_newest(cfg, "embeddings", required=False) if ner.embeddings.pretrained else None)
    result = _finetune(cfg, "ner", ner, embeddings=vectors, verbose=verbose)
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
    verbose: bool = VerboseOption,
):
    """Train the word- or character-level language model; logs, registers and gates seqpipe-lm in MLflow."""
    cfg = load(config, set_)
    corpus, vocab = corpus or _newest(cfg, "corpus"), vocab or _newest(cfg, "vocab")
    vectors = embeddings or (_newest(cfg, "embeddings", required=False) if cfg.lm.embeddings.pretrained else None)
    result = _finetune(cfg, "lm", cfg.lm, corpus=corpus, vocab=vocab, embeddings=vectors, verbose=verbose)
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
    verbose: bool = VerboseOption,
):
    """Train the attention encoder-decoder; logs, registers and gates seqpipe-translator in MLflow."""
    from seqpipe.config import ParallelFiles
    from seqpipe.tasks.translation.data import with_demo_data

    cfg = load(config, set_)
    tr = cfg.translation
    if source or target or table:
        tr = tr.model_copy(update={"train_data": ParallelFiles(source=source, target=target, table=table)})
    tr = with_demo_data(tr, cfg.runtime.local_dir, cfg.demo)
    result = _finetune(cfg, "translation", tr, embeddings=embeddings, verbose=verbose)
    m = result.metrics
    console.print(f"{'reused' if result.reused else 'trained'} translator: BLEU greedy {m['bleu_greedy']:.2f}, "
                  f"beam {m['bleu_beam']:.2f}, exact match {m['exact_match_beam']:.2%}")
    print(result.uri)


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

    from seqpipe.core.artifacts import read_json

    translator = _model(model, "translation", config, set_)
    m = read_json(translator.folder / "metrics.json")
    lines = (translator.folder / "beam_errors.tsv").read_text(encoding="utf-8").split("\n")
    table = Table(*lines[0].split("\t"))
    for line in lines[1:rows + 1]:
        if line:
            table.add_row(*line.split("\t"))
    Console().print(table)
    print(f"{m['beam_errors']} wrong of {m['beam_sentences']} dev sentences: search at fault "
          f"{m['beam_search_fault_fraction']:.1%}, model at fault {m['beam_model_fault_fraction']:.1%} "
          f"(scores compared: log P / T^alpha with the decode's alpha = {m.get('beam_analysis_alpha', 0.0):g})")
    for key in sorted(k for k in m if k.startswith("sweep_bleu_")):
        print(f"{key[11:]:>10}  BLEU {m[key]:.2f}")


@finetune_app.command("speech")
@friendly_errors
def finetune_speech(
    train: Optional[str] = typer.Option(None, help="Manifest (path,transcript[,speaker]) or folder of recordings "
                                        "(default: the synthesised demo voices)."),
    dev: Optional[str] = typer.Option(None, help="Validation manifest (default: part of train)."),
    test: Optional[str] = typer.Option(None, help="Test manifest."),
    lm: Optional[str] = typer.Option(None, help="A character-level lm-<hash> folder for shallow fusion "
                                     "(default: speech.fusion_lm, an n-gram LM of the training transcripts)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
    verbose: bool = VerboseOption,
):
    """Train the CTC speech recogniser; logs, registers and gates seqpipe-asr in MLflow."""
    from seqpipe.tasks.speech.data import with_demo_data

    cfg = load(config, set_)
    sp = cfg.speech.model_copy(update={k: v for k, v in {"train_manifest": train, "dev_manifest": dev,
                                                         "test_manifest": test}.items() if v})
    sp = with_demo_data(sp, cfg.runtime.local_dir, cfg.demo)
    result = _finetune(cfg, "speech", sp, lm=lm, verbose=verbose)
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
    """Print the transcript of each audio file (beam search: with the model's own lm_alpha,
    lm_beta and beam_prune, unless --config, --set or SEQPIPE__SPEECH__* name them)."""
    transcriber = _model(model, "speech", config, set_)
    named = _named_decoding(config, set_)
    for path in audio:
        text = transcriber.transcribe(path, beam, lm, **named)
        print(f"{path}\t{text}")


def _named_decoding(config: Optional[Path], sets) -> dict:
    """The speech decoding settings an explicit --config, --set or the environment names (the
    default conf/pipeline.yaml only restates the defaults, and does not count)."""
    from seqpipe.config import load_config
    from seqpipe.tasks.speech.predictor import DECODING

    speech = load_config(config, list(sets or [])).speech
    return {arg: getattr(speech, key) for arg, key in DECODING.items() if key in speech.model_fields_set}


@finetune_app.command("sentiment")
@friendly_errors
def finetune_sentiment(
    train: Optional[str] = typer.Option(None, help="Labelled texts: CSV, TSV, JSONL or Parquet; file, folder or glob "
                                        "(default: demo data)."),
    dev: Optional[str] = typer.Option(None, help="Validation texts (default: a held-out part of train)."),
    test: Optional[str] = typer.Option(None, help="Test texts, scored once with the best model."),
    embeddings: Optional[str] = typer.Option(None, help="Pretrained vectors: an embeddings folder or a "
                                             "word2vec/GloVe .txt/.bin file (default: the newest pretrained)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
    verbose: bool = VerboseOption,
):
    """Train the BiLSTM/GRU sentiment classifier; logs, registers and gates seqpipe-sentiment in MLflow."""
    from seqpipe.tasks.sentiment.data import with_demo_data

    cfg = load(config, set_)
    given = {"train_path": train, "dev_path": dev, "test_path": test}
    sentiment = with_demo_data(cfg.sentiment.model_copy(update={k: v for k, v in given.items() if v}),
                               cfg.runtime.local_dir, cfg.demo)
    vectors = embeddings or (_newest(cfg, "embeddings", required=False) if sentiment.embeddings.pretrained else None)
    m = (result := _finetune(cfg, "sentiment", sentiment, embeddings=vectors, verbose=verbose)).metrics
    split = "test" if "test_accuracy" in m else "dev"
    console.print(f"{'reused' if result.reused else 'trained'} classifier: {split} accuracy "
                  f"{m[f'{split}_accuracy']:.4f}, macro-F1 {m[f'{split}_macro_f1']:.4f} (bag of words "
                  f"{m.get(f'bow_{split}_accuracy', float('nan')):.4f})")
    print(result.uri)


@finetune_app.command("captioning")
@friendly_errors
def finetune_captioning(
    train: Optional[str] = typer.Option(None, help="Captions of the training images (image, caption; or Flickr8k's "
                                        "name#n<TAB>caption) (default: demo data)."),
    dev: Optional[str] = typer.Option(None, help="Validation captions (default: a held-out part of train)."),
    test: Optional[str] = typer.Option(None, help="Test captions, scored once with the best model."),
    images: Optional[str] = typer.Option(None, help="The images' folder (default: each captions file's folder)."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
    verbose: bool = VerboseOption,
):
    """Train the CNN + attention-decoder image captioner; logs, registers and gates seqpipe-captioner in MLflow."""
    from seqpipe.tasks.captioning.data import with_demo_data

    cfg = load(config, set_)
    given = {"train_captions": train, "dev_captions": dev, "test_captions": test, "images": images}
    captioning = with_demo_data(cfg.captioning.model_copy(update={k: v for k, v in given.items() if v}),
                                cfg.runtime.local_dir, cfg.demo)
    m = (result := _finetune(cfg, "captioning", captioning, verbose=verbose)).metrics
    console.print(f"{'reused' if result.reused else 'trained'} captioner, {'test' if 'test_bleu' in m else 'dev'} "
                  f"images: BLEU-4 greedy {m['bleu_greedy']:.2f}, beam {m['bleu_beam']:.2f}; "
                  + (f"CIDEr-D beam {m['cider_beam']:.1f}; " if "cider_beam" in m else "")
                  + f"exact match beam {m['exact_match_beam']:.2%}")
    print(result.uri)


@app.command()
@friendly_errors
def caption(images: List[str] = typer.Argument(..., help="Image files (any size; PNG, JPEG, ...)."),
            beam: Optional[int] = typer.Option(None, help="Beam size (default: the model's captioning.beam; 0 = greedy)."),
            model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
            set_: Optional[List[str]] = SetOption):
    """Print a caption for each IMAGE."""
    captioner = _model(model, "captioning", config, set_)
    for path, text in zip(images, captioner.caption(images, beam)):
        print(f"{text}\t{path}")


@app.command()
@friendly_errors
def classify(text: List[str] = typer.Argument(..., help="Texts to classify (several arguments: one text each)."),
             model: Optional[str] = ModelOption, config: Optional[Path] = ConfigOption,
             set_: Optional[List[str]] = SetOption):
    """Print the sentiment label of each TEXT and its probability."""
    classifier = _model(model, "sentiment", config, set_)
    for one, found in zip(text, classifier.classify(text)):
        print(f"{found['label']}\t{found['probability']:.3f}\t{one}")


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


def _finetune(cfg, stage: str, stage_cfg, verbose: bool = False, **inputs):
    """One stage through flows.step.run_step: its MLflow run, registration and the promotion gate
    (the same as in the pipeline), shown as the pipeline shows a stage (one live line; what the
    libraries print goes to the run's log file); prints the gate's decision."""
    from flows.step import run_step
    from seqpipe.cli.live import RunConsole
    from seqpipe.core import progress
    from seqpipe.core.stage import StageInputs

    runtime = cfg.runtime.model_copy(update={"max_concurrent_stages": None})  # one stage: the whole cluster
    with RunConsole(runtime.local_dir, f"finetune-{stage}", verbose) as run_console, progress.listening(run_console):
        outcome = run_step(stage, stage_cfg, StageInputs(**inputs), runtime, cfg.promotion)
    if outcome.decision:
        d = outcome.decision
        console.print(f"{d['model']} v{d['version']} is {'champion' if d['promoted'] else 'challenger'}: {d['reason']}")
    return outcome.result


def _model(uri: Optional[str], kind: str, config, sets):
    """A trained model's predictor from a folder, the registry (models:/..., runs:/...), or the
    newest folder of `kind`."""
    cfg = load(config, sets)
    if uri and uri.split(":/")[0] in ("models", "runs"):
        from seqpipe.tracking import runs as tracking

        with console.status(f"loading {uri}"):
            return tracking.load_registered(cfg.runtime, uri)
    from seqpipe.core.predictor import load_predictor
    from seqpipe.core.stage import local_folder

    return load_predictor(local_folder(uri or _newest(cfg, kind), cfg.runtime.store_cache), kind)
