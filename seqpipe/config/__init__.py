"""Configuration: one pydantic model per stage, loaded from commented YAML in conf/.

Every knob of the pipeline lives in this package: `runtime` (how and where it runs),
`upstream` (ingest, vocabulary, pretraining), `downstream` (one section per task) and
`pipeline` (the whole, and `load_config`, which reads a YAML file, applies environment and
`--set a.b=value` overrides and validates, turning any mistake into a `ConfigError` whose
message names the key path and the reason). Import from here: `from seqpipe.config import ...`.
"""
from seqpipe.config.base import ConfigError, Strict
from seqpipe.config.downstream import (CaptioningConfig, EmbeddingLayerConfig, EncoderConfig, LmConfig, NerConfig,
                                       ParallelFiles, SentimentConfig, SpeechConfig, SubwordConfig, TrainConfig,
                                       TranslationConfig)
from seqpipe.config.pipeline import PipelineConfig, config_hash, format_validation_error, load_config
from seqpipe.config.runtime import DemoConfig, PromotionConfig, RuntimeConfig, ScheduleConfig, ServicesConfig
from seqpipe.config.upstream import EmbeddingsConfig, EvalConfig, IngestConfig, VocabConfig

__all__ = [
    "CaptioningConfig", "ConfigError", "DemoConfig", "EmbeddingLayerConfig", "EmbeddingsConfig", "EncoderConfig",
    "EvalConfig", "IngestConfig", "LmConfig", "NerConfig", "ParallelFiles", "PipelineConfig", "PromotionConfig",
    "RuntimeConfig", "ScheduleConfig", "SentimentConfig", "ServicesConfig", "SpeechConfig", "Strict",
    "SubwordConfig", "TrainConfig", "TranslationConfig", "VocabConfig", "config_hash", "format_validation_error",
    "load_config",
]
