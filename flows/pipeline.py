"""The `pipeline` Prefect flow: demo data (when no sources are given) -> ingest -> vocab -> pretrain.

Tasks are thin: each opens its MLflow stage run under the pipeline's parent run and
calls one library stage. Stages skip their work when their content-addressed output
already exists, so an unchanged rerun costs one pass of hashing over the inputs.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task

from seqpipe import tracking
from seqpipe.config import DemoConfig, EmbeddingsConfig, IngestConfig, PipelineConfig, RuntimeConfig, VocabConfig
from seqpipe.demo import build_demo_corpus
from seqpipe.errors import SeqpipeError
from seqpipe.ingest import IngestResult, run_ingest
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


@flow(name="pipeline")
def pipeline(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest the sources (or the demo corpus), build the vocabulary, pretrain embeddings."""
    ingest_cfg = config.ingest
    if not ingest_cfg.sources:
        demo_folder = demo_task(config.runtime, config.demo)
        ingest_cfg = ingest_cfg.model_copy(update={"sources": [f"{demo_folder}/*.txt"]})
    with tracking.pipeline_run(config.runtime, config) as run_id:
        corpus = ingest_task(ingest_cfg, config.runtime, run_id)
        vocab = vocab_task(config.vocab, corpus.uri, config.runtime, run_id)
        embeddings = pretrain_task(config.embeddings, corpus.uri, vocab.uri, config.runtime, run_id)
    return {"mlflow_run_id": run_id, "corpus": corpus.model_dump(), "vocab": vocab.model_dump(),
            "embeddings": embeddings.model_dump()}
