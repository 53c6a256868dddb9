"""The `pipeline` Prefect flow: demo data (when no sources are given) -> ingest -> vocab -> pretrain
-> the downstream stages (NER tagger, language model, translation, speech recognition).

Tasks are thin: each opens its MLflow stage run under the pipeline's parent run and
calls one library stage. Stages skip their work when their content-addressed output
already exists, so an unchanged rerun costs one pass of hashing over the inputs.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from seqpipe.tracking import registry

from seqpipe.tracking import runs as tracking
from seqpipe.config import (DemoConfig, EmbeddingsConfig, IngestConfig, LmConfig, NerConfig, PipelineConfig,
                            PromotionConfig, RuntimeConfig, SpeechConfig, TranslationConfig, VocabConfig)
from seqpipe.data.demo_corpus import build_demo_corpus
from seqpipe.core.errors import SeqpipeError
from seqpipe.data.ingest import IngestResult, run_ingest
from seqpipe.tasks.lm.stage import LmResult, run_lm
from seqpipe.tasks.ner.stage import NerResult, run_ner, with_demo_data
from seqpipe.tasks.speech import stage as speech_stage
from seqpipe.tasks.translation import stage as translation_stage
from seqpipe.tasks.embeddings.stage import PretrainResult, run_pretrain
from seqpipe.data.vocab import VocabResult, run_vocab


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
                  parent_run_id: str | None, promotion: PromotionConfig) -> tuple[PretrainResult, dict | None]:
    with tracking.stage_run(runtime, "pretrain", cfg, parent_run_id) as run_id:
        result = run_pretrain(cfg, corpus_uri, vocab_uri, runtime, mlflow_run_id=run_id)
        # a reused folder was registered (and gated) by the run that wrote it
        version = tracking.log_embeddings(result.uri, result.reused,
                                          register_as=None if result.reused else "seqpipe-embeddings")
        eval_set = registry.evaluation_set_hash([cfg.eval.analogies], {"top_n": cfg.eval.top_n})
        decision = gate(promotion, "seqpipe-embeddings", version, result.metrics, eval_set)
    get_run_logger().info("embeddings %s (%s, model version %s): %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics)
    return result, decision


@task(name="ner-demo-data")
def ner_demo_task(cfg: NerConfig, runtime: RuntimeConfig, demo: DemoConfig) -> NerConfig:
    cfg = on_demo_data(with_demo_data(cfg, runtime.state_dir, demo.ner_sentences), demo.train_minutes)
    get_run_logger().info("NER demo data: %s", cfg.train_path)
    return cfg


@task(name="ner", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def ner_task(cfg: NerConfig, embeddings_uri: str | None, runtime: RuntimeConfig, parent_run_id: str | None,
             promotion: PromotionConfig) -> tuple[NerResult, dict | None]:
    with tracking.stage_run(runtime, "ner", cfg, parent_run_id) as run_id:
        result = run_ner(cfg, runtime, embeddings_uri, mlflow_run_id=run_id)
        version = tracking.log_trained_model(result.uri, result.reused, "ner", None if result.reused else "seqpipe-ner",
                                             ["Yesterday, Harry Potter met Hermione Granger in London."])
        eval_set = registry.evaluation_set_hash([cfg.test_path] if cfg.test_path else [cfg.train_path, cfg.dev_path],
                                                {} if cfg.test_path else {"dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed})
        decision = gate(promotion, "seqpipe-ner", version, result.metrics, eval_set)
    get_run_logger().info("NER tagger %s (%s, model version %s): test F1 %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("test_f1"))
    return result, decision


@task(name="lm", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def lm_task(cfg: LmConfig, corpus: IngestResult, vocab_uri: str, embeddings_uri: str | None, runtime: RuntimeConfig,
            parent_run_id: str | None, promotion: PromotionConfig, stage: str = "lm") -> tuple[LmResult, dict | None]:
    """stage "lm", or "lm-char": the character-level model that speech recognition fuses with."""
    with tracking.stage_run(runtime, stage, cfg, parent_run_id) as run_id:
        result = run_lm(cfg, corpus.uri, vocab_uri, runtime, embeddings_uri, mlflow_run_id=run_id)
        name = "seqpipe-lm" if stage == "lm" else "seqpipe-char-lm"
        version = tracking.log_trained_model(result.uri, result.reused, "lm", None if result.reused else name,
                                             ["apple and pear salad", "apple and pair salad"])
        # the dev sentences are held out of the corpus: the same corpus and settings give the same set
        eval_set = registry.evaluation_set_hash([], {"corpus": corpus.content_hash, "level": cfg.level,
                                                     "dev_sentences": cfg.dev_sentences, "max_len": cfg.max_len})
        decision = gate(promotion, name, version, result.metrics, eval_set)
    get_run_logger().info("language model %s (%s, model version %s): dev perplexity %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("dev_perplexity"))
    return result, decision


@task(name="translation-demo-data")
def translation_demo_task(cfg: TranslationConfig, runtime: RuntimeConfig, demo: DemoConfig) -> TranslationConfig:
    cfg = on_demo_data(translation_stage.with_demo_data(cfg, runtime.state_dir, demo.translation_pairs),
                       demo.train_minutes)
    get_run_logger().info("translation demo data: %s", cfg.train_data.table)
    return cfg


@task(name="translation", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def translation_task(cfg: TranslationConfig, embeddings_uri: str | None, runtime: RuntimeConfig,
                     parent_run_id: str | None, promotion: PromotionConfig) -> tuple[translation_stage.TranslationResult,
                                                                                     dict | None]:
    with tracking.stage_run(runtime, "translation", cfg, parent_run_id) as run_id:
        result = translation_stage.run_translation(cfg, runtime, embeddings_uri, mlflow_run_id=run_id)
        version = tracking.log_trained_model(result.uri, result.reused, "translation",
                                             None if result.reused else "seqpipe-translator",
                                             ["mardi 25 septembre 1984", "le 3 mars 2021"])
        decision = gate(promotion, "seqpipe-translator", version, result.metrics, translation_eval_set(cfg))
    get_run_logger().info("translator %s (%s, model version %s): BLEU beam %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("bleu_beam"))
    return result, decision


def translation_eval_set(cfg: TranslationConfig) -> str:
    """The test files, else the dev files, else the held-out part of the training files."""
    for files in (cfg.test_data, cfg.dev_data):
        if files.table or files.source:
            return registry.evaluation_set_hash([files.table, files.source, files.target])
    train = cfg.train_data
    return registry.evaluation_set_hash([train.table, train.source, train.target],
                                        {"dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed})


@task(name="speech-demo-data")
def speech_demo_task(cfg: SpeechConfig, runtime: RuntimeConfig, demo: DemoConfig) -> SpeechConfig:
    cfg = on_demo_data(speech_stage.with_demo_data(cfg, runtime.state_dir, demo.speech_utterances), demo.train_minutes)
    get_run_logger().info("speech demo data: %s", cfg.train_manifest)
    return cfg


@task(name="speech", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def speech_task(cfg: SpeechConfig, fusion_lm: str | None, runtime: RuntimeConfig, parent_run_id: str | None,
                promotion: PromotionConfig) -> tuple[speech_stage.SpeechResult, dict | None]:
    with tracking.stage_run(runtime, "speech", cfg, parent_run_id) as run_id:
        result = speech_stage.run_speech(cfg, runtime, fusion_lm, mlflow_run_id=run_id)
        example = [str(next(Path(cfg.train_manifest).parent.rglob("*.wav"), cfg.train_manifest))]
        version = tracking.log_trained_model(result.uri, result.reused, "speech",
                                             None if result.reused else "seqpipe-asr", example)
        eval_set = registry.evaluation_set_hash(
            [cfg.test_manifest] if cfg.test_manifest else [cfg.train_manifest, cfg.dev_manifest],
            {} if cfg.test_manifest else {"dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed})
        decision = gate(promotion, "seqpipe-asr", version, result.metrics, eval_set)
    get_run_logger().info("speech recogniser %s (%s, model version %s): CER %s", result.uri,
                          "reused" if result.reused else "new", version, result.metrics.get("cer"))
    return result, decision


def gate(promotion: PromotionConfig, model: str, version: str | None, metrics: dict, eval_set: str) -> dict | None:
    """The promotion gate for a version registered just now (None for a reused stage)."""
    if version is None or not promotion.enabled:
        return None
    margin = promotion.margins.get(model, promotion.margin)
    decision = registry.promote_if_better(model, version, metrics, eval_set, margin)
    get_run_logger().info("%s v%s -> %s: %s", model, version,
                          "champion" if decision.promoted else "challenger", decision.reason)
    return registry.as_dict(decision)


def on_demo_data(cfg, minutes: float):
    """A downstream stage's config with the demo's training budget, unless it sets its own."""
    if cfg.train.max_minutes is not None:
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_minutes": minutes})})


UPSTREAM = ("ingest", "vocab", "pretrain")
DOWNSTREAM = ("ner", "lm", "translation", "speech")


@flow(name="pipeline")
def pipeline(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest the sources (or the demo corpus), build the vocabulary, pretrain embeddings, fine-tune."""
    return run_stages(config, "all")


def run_stages(config: PipelineConfig, target: str) -> dict:
    """Every stage up to `target` (one of UPSTREAM or DOWNSTREAM, or "all": the configured downstream
    stages). Stages whose output exists are reused, so a stage deployment costs only its own work."""
    downstream = config.downstream if target == "all" else [target] if target in DOWNSTREAM else []
    last = len(UPSTREAM) if target not in UPSTREAM else UPSTREAM.index(target) + 1
    config = demo_data_where_missing(config, downstream)
    runtime, promotion, summary, decisions = config.runtime, config.promotion, {}, []
    with tracking.pipeline_run(runtime, config, name="pipeline" if target == "all" else target) as run_id:
        corpus = ingest_task(config.ingest, runtime, run_id)
        summary["corpus"] = corpus.model_dump()
        if last >= 2:
            vocab = vocab_task(config.vocab, corpus.uri, runtime, run_id)
            summary["vocab"] = vocab.model_dump()
        if last >= 3:
            embeddings, decision = pretrain_task(config.embeddings, corpus.uri, vocab.uri, runtime, run_id, promotion)
            summary["embeddings"], decisions = embeddings.model_dump(), [decision]
        # one after the other: each stage's Ray Train workers take the machine's CPUs
        if "ner" in downstream:
            result, decision = ner_task(config.ner, embeddings.uri, runtime, run_id, promotion)
            summary["ner"], decisions = result.model_dump(), decisions + [decision]
        if "lm" in downstream or ("speech" in downstream and config.speech.fusion_lm == "auto"):
            summary.update(language_models(config, corpus, vocab.uri, embeddings.uri, downstream, run_id, decisions))
        if "translation" in downstream:
            result, decision = translation_task(config.translation, embeddings.uri, runtime, run_id, promotion)
            summary["translation"], decisions = result.model_dump(), decisions + [decision]
        if "speech" in downstream:
            fusion_lm = config.speech.fusion_lm
            if fusion_lm == "auto":  # the character LM of the corpus
                fusion_lm = summary.get("lm-char", summary.get("lm", {})).get("uri")
            result, decision = speech_task(config.speech, fusion_lm, runtime, run_id, promotion)
            summary["speech"], decisions = result.model_dump(), decisions + [decision]
    summary["promotion"] = [d for d in decisions if d]
    publish_summary(config, run_id, summary["promotion"])
    return {"mlflow_run_id": run_id, **summary}


def language_models(config: PipelineConfig, corpus: IngestResult, vocab_uri: str, embeddings_uri: str,
                    downstream: list[str], run_id: str, decisions: list) -> dict:
    """The `lm` stage when asked for, and the character LM that speech fuses with (`lm-char`)."""
    out, lm_cfg = {}, config.lm
    if "lm" in downstream:
        result, decision = lm_task(lm_cfg, corpus, vocab_uri, embeddings_uri, config.runtime, run_id, config.promotion)
        out["lm"] = result.model_dump()
        decisions.append(decision)
    if "speech" in downstream and config.speech.fusion_lm == "auto" and not ("lm" in out and lm_cfg.level == "char"):
        char_cfg = lm_cfg.model_copy(update={"level": "char"})
        result, decision = lm_task(char_cfg, corpus, vocab_uri, None, config.runtime, run_id, config.promotion,
                                   stage="lm-char")
        out["lm-char"] = result.model_dump()
        decisions.append(decision)
    return out


def demo_data_where_missing(config: PipelineConfig, downstream: list[str]) -> PipelineConfig:
    """Demo data (and the demo's training budget) for every stage whose data is not configured."""
    runtime, demo, update = config.runtime, config.demo, {}
    if not config.ingest.sources:
        folder = demo_task(runtime, demo)
        update["ingest"] = config.ingest.model_copy(update={"sources": [f"{folder}/*.txt"]})
        update["lm"] = on_demo_data(config.lm, demo.train_minutes)
    if "ner" in downstream and not config.ner.train_path:
        update["ner"] = ner_demo_task(config.ner, runtime, demo)
    translation = config.translation
    if "translation" in downstream and not (translation.train_data.source or translation.train_data.table):
        update["translation"] = translation_demo_task(translation, runtime, demo)
    if "speech" in downstream and not config.speech.train_manifest:
        update["speech"] = speech_demo_task(config.speech, runtime, demo)
    return config.model_copy(update=update)


def publish_summary(config: PipelineConfig, run_id: str, decisions: list[dict]) -> None:
    """A Prefect markdown artifact: links to the MLflow runs and the promotion decisions."""
    services = config.services
    links = tracking.run_links(config.runtime, run_id, f"http://{services.host}:{services.mlflow_port}")
    markdown = registry.decision_markdown([registry.Decision(**d) for d in decisions], links)
    create_markdown_artifact(markdown, key="seqpipe-run-summary", description="MLflow runs and model promotion")
