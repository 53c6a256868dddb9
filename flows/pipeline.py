"""The `pipeline` Prefect flow: demo data (when no sources are given) -> ingest -> vocab -> pretrain
-> the downstream stages (NER tagger, language model, translation, speech recognition).

Tasks are thin: each opens its MLflow stage run under the pipeline's parent run and
calls one library stage. Stages skip their work when their content-addressed output
already exists, so an unchanged rerun costs one pass of hashing over the inputs.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task

from seqpipe import tracking
from seqpipe.config import (DemoConfig, EmbeddingsConfig, IngestConfig, LmConfig, NerConfig, PipelineConfig,
                            RuntimeConfig, SpeechConfig, TranslationConfig, VocabConfig)
from seqpipe.demo import build_demo_corpus
from seqpipe.errors import SeqpipeError
from seqpipe.ingest import IngestResult, run_ingest
from seqpipe.lm.stage import LmResult, run_lm
from seqpipe.ner.stage import NerResult, run_ner, with_demo_data
from seqpipe.speech import stage as speech_stage
from seqpipe.translation import stage as translation_stage
from seqpipe.pretrain import PretrainResult, run_pretrain
from seqpipe.vocab import VocabResult, run_vocab


def retry_on_io_errors(task, task_run, state) -> bool:
    """Retry transient failures (a flaky disk or bucket), never a user error such as bad input."""
    try:
        state.result()
    except SeqpipeError:
        return False
    except Exception:
        return True
    return False


@task(name="demo-corpus")
def demo_task(runtime: RuntimeConfig, demo: DemoConfig) -> str:
    folder = build_demo_corpus(runtime.state_dir, demo.max_mb)
    get_run_logger().info("demo corpus: %s", folder)
    return str(folder)


@task(name="ingest", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def ingest_task(cfg: IngestConfig, runtime: RuntimeConfig, parent_run_id: str | None) -> IngestResult:
    with tracking.stage_run(runtime, "ingest", cfg, parent_run_id):
        result = run_ingest(cfg, runtime)
        tracking.log_corpus(result.uri, result.reused)
    get_run_logger().info("corpus %s (%s): %s", result.uri, "reused" if result.reused else "new", result.counts)
    return result


@task(name="vocab", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def vocab_task(cfg: VocabConfig, corpus_uri: str, runtime: RuntimeConfig, parent_run_id: str | None) -> VocabResult:
    with tracking.stage_run(runtime, "vocab", cfg, parent_run_id):
        result = run_vocab(cfg, corpus_uri, runtime)
        tracking.log_vocab(result.uri, result.reused)
    get_run_logger().info("vocabulary %s (%s): %s", result.uri, "reused" if result.reused else "new", result.stats)
    return result


@task(name="pretrain", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def pretrain_task(cfg: EmbeddingsConfig, corpus_uri: str, vocab_uri: str, runtime: RuntimeConfig,
                  parent_run_id: str | None) -> PretrainResult:
    with tracking.stage_run(runtime, "pretrain", cfg, parent_run_id) as run_id:
        result = run_pretrain(cfg, corpus_uri, vocab_uri, runtime, mlflow_run_id=run_id)
        # a reused folder was registered by the run that wrote it
        version = tracking.log_embeddings(result.uri, result.reused,
                                          register_as=None if result.reused else "seqpipe-embeddings")
    get_run_logger().info("embeddings %s (%s, model version %s): %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics)
    return result


@task(name="ner-demo-data")
def ner_demo_task(cfg: NerConfig, runtime: RuntimeConfig, demo: DemoConfig) -> NerConfig:
    cfg = on_demo_data(with_demo_data(cfg, runtime.state_dir, demo.ner_sentences), demo.train_minutes)
    get_run_logger().info("NER demo data: %s", cfg.train_path)
    return cfg


@task(name="ner", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def ner_task(cfg: NerConfig, embeddings_uri: str | None, runtime: RuntimeConfig, parent_run_id: str | None) -> NerResult:
    with tracking.stage_run(runtime, "ner", cfg, parent_run_id) as run_id:
        result = run_ner(cfg, runtime, embeddings_uri, mlflow_run_id=run_id)
        version = tracking.log_trained_model(result.uri, result.reused, "ner", None if result.reused else "seqpipe-ner",
                                             ["Yesterday, Harry Potter met Hermione Granger in London."])
    get_run_logger().info("NER tagger %s (%s, model version %s): test F1 %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("test_f1"))
    return result


@task(name="lm", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def lm_task(cfg: LmConfig, corpus_uri: str, vocab_uri: str, embeddings_uri: str | None, runtime: RuntimeConfig,
            parent_run_id: str | None, stage: str = "lm") -> LmResult:
    """stage "lm", or "lm-char": the character-level model that speech recognition fuses with."""
    with tracking.stage_run(runtime, stage, cfg, parent_run_id) as run_id:
        result = run_lm(cfg, corpus_uri, vocab_uri, runtime, embeddings_uri, mlflow_run_id=run_id)
        name = "seqpipe-lm" if stage == "lm" else "seqpipe-char-lm"
        version = tracking.log_trained_model(result.uri, result.reused, "lm", None if result.reused else name,
                                             ["apple and pear salad", "apple and pair salad"])
    get_run_logger().info("language model %s (%s, model version %s): dev perplexity %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("dev_perplexity"))
    return result


@task(name="translation-demo-data")
def translation_demo_task(cfg: TranslationConfig, runtime: RuntimeConfig, demo: DemoConfig) -> TranslationConfig:
    cfg = on_demo_data(translation_stage.with_demo_data(cfg, runtime.state_dir, demo.translation_pairs),
                       demo.train_minutes)
    get_run_logger().info("translation demo data: %s", cfg.train_data.table)
    return cfg


@task(name="translation", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def translation_task(cfg: TranslationConfig, embeddings_uri: str | None, runtime: RuntimeConfig,
                     parent_run_id: str | None) -> translation_stage.TranslationResult:
    with tracking.stage_run(runtime, "translation", cfg, parent_run_id) as run_id:
        result = translation_stage.run_translation(cfg, runtime, embeddings_uri, mlflow_run_id=run_id)
        version = tracking.log_trained_model(result.uri, result.reused, "translation",
                                             None if result.reused else "seqpipe-translator",
                                             ["mardi 25 septembre 1984", "le 3 mars 2021"])
    get_run_logger().info("translator %s (%s, model version %s): BLEU beam %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("bleu_beam"))
    return result


@task(name="speech-demo-data")
def speech_demo_task(cfg: SpeechConfig, runtime: RuntimeConfig, demo: DemoConfig) -> SpeechConfig:
    cfg = on_demo_data(speech_stage.with_demo_data(cfg, runtime.state_dir, demo.speech_utterances), demo.train_minutes)
    get_run_logger().info("speech demo data: %s", cfg.train_manifest)
    return cfg


@task(name="speech", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def speech_task(cfg: SpeechConfig, fusion_lm: str | None, runtime: RuntimeConfig,
                parent_run_id: str | None) -> speech_stage.SpeechResult:
    with tracking.stage_run(runtime, "speech", cfg, parent_run_id) as run_id:
        result = speech_stage.run_speech(cfg, runtime, fusion_lm, mlflow_run_id=run_id)
        example = [str(next(Path(cfg.train_manifest).parent.rglob("*.wav"), cfg.train_manifest))]
        version = tracking.log_trained_model(result.uri, result.reused, "speech",
                                             None if result.reused else "seqpipe-asr", example)
    get_run_logger().info("speech recogniser %s (%s, model version %s): CER %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("cer"))
    return result


def on_demo_data(cfg, minutes: float):
    """A downstream stage's config with the demo's training budget, unless it sets its own."""
    if cfg.train.max_minutes is not None:
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_minutes": minutes})})


@flow(name="pipeline")
def pipeline(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest the sources (or the demo corpus), build the vocabulary, pretrain embeddings, fine-tune."""
    ingest_cfg, ner_cfg, lm_cfg, runtime = config.ingest, config.ner, config.lm, config.runtime
    translation_cfg = config.translation
    if not ingest_cfg.sources:
        demo_folder = demo_task(runtime, config.demo)
        ingest_cfg = ingest_cfg.model_copy(update={"sources": [f"{demo_folder}/*.txt"]})
        lm_cfg = on_demo_data(lm_cfg, config.demo.train_minutes)
    if "ner" in config.downstream and not ner_cfg.train_path:
        ner_cfg = ner_demo_task(ner_cfg, runtime, config.demo)
    if "translation" in config.downstream and not (translation_cfg.train_data.source or translation_cfg.train_data.table):
        translation_cfg = translation_demo_task(translation_cfg, runtime, config.demo)
    speech_cfg = config.speech
    if "speech" in config.downstream and not speech_cfg.train_manifest:
        speech_cfg = speech_demo_task(speech_cfg, runtime, config.demo)
    summary = {}
    with tracking.pipeline_run(runtime, config) as run_id:
        corpus = ingest_task(ingest_cfg, runtime, run_id)
        vocab = vocab_task(config.vocab, corpus.uri, runtime, run_id)
        embeddings = pretrain_task(config.embeddings, corpus.uri, vocab.uri, runtime, run_id)
        # one after the other: each stage's Ray Train workers take the machine's CPUs
        if "ner" in config.downstream:
            summary["ner"] = ner_task(ner_cfg, embeddings.uri, runtime, run_id).model_dump()
        if "lm" in config.downstream:
            summary["lm"] = lm_task(lm_cfg, corpus.uri, vocab.uri, embeddings.uri, runtime, run_id).model_dump()
        if "translation" in config.downstream:
            summary["translation"] = translation_task(translation_cfg, embeddings.uri, runtime, run_id).model_dump()
        if "speech" in config.downstream:
            fusion_lm = speech_cfg.fusion_lm
            if fusion_lm == "auto":  # the character LM of the corpus
                char_lm = summary.get("lm") if lm_cfg.level == "char" else lm_task(
                    lm_cfg.model_copy(update={"level": "char"}), corpus.uri, vocab.uri, None, runtime, run_id,
                    stage="lm-char").model_dump()
                fusion_lm = char_lm["uri"] if char_lm else None
            summary["speech"] = speech_task(speech_cfg, fusion_lm, runtime, run_id).model_dump()
    return {"mlflow_run_id": run_id, "corpus": corpus.model_dump(), "vocab": vocab.model_dump(),
            "embeddings": embeddings.model_dump(), **summary}
