"""One flow per stage, for the stage deployments (`ingest`, `finetune-ner`, ...).

Each takes the whole pipeline config (the Prefect UI renders it as a typed form) and runs
its stage and whatever the stage needs: upstream stages whose output exists are reused,
so retraining the tagger does not re-ingest an unchanged corpus.
"""
from prefect import flow

from flows.pipeline import run_stages
from seqpipe.config import PipelineConfig


@flow(name="ingest")
def ingest(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest the sources (or the demo corpus) into a Parquet corpus."""
    return run_stages(config, "ingest")


@flow(name="vocab")
def vocab(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest, then build the vocabulary and the negative-sampling table."""
    return run_stages(config, "vocab")


@flow(name="pretrain")
def pretrain(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest, vocabulary, then pretrain word embeddings."""
    return run_stages(config, "pretrain")


@flow(name="finetune-ner")
def finetune_ner(config: PipelineConfig = PipelineConfig()) -> dict:
    """Train the NER tagger on the pretrained embeddings."""
    return run_stages(config, "ner")


@flow(name="finetune-lm")
def finetune_lm(config: PipelineConfig = PipelineConfig()) -> dict:
    """Train the language model on the corpus."""
    return run_stages(config, "lm")


@flow(name="finetune-translation")
def finetune_translation(config: PipelineConfig = PipelineConfig()) -> dict:
    """Train the translator."""
    return run_stages(config, "translation")


@flow(name="finetune-speech")
def finetune_speech(config: PipelineConfig = PipelineConfig()) -> dict:
    """Train the speech recogniser (and the character LM it fuses with)."""
    return run_stages(config, "speech")


STAGE_FLOWS = {f.name: f for f in (ingest, vocab, pretrain, finetune_ner, finetune_lm, finetune_translation,
                                   finetune_speech)}
