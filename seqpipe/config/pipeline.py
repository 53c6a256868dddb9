"""The whole pipeline's config, and loading it: YAML, `SEQPIPE__SECTION__KEY` environment
variables and `--set a.b=value` overrides, validated into errors that name the key path."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, Field, ValidationError

from seqpipe.config.base import ConfigError, Strict
from seqpipe.config.downstream import (CaptioningConfig, LmConfig, NerConfig, SentimentConfig, SpeechConfig,
                                       TranslationConfig)
from seqpipe.config.runtime import DemoConfig, PromotionConfig, RuntimeConfig, ScheduleConfig, ServicesConfig
from seqpipe.config.upstream import EmbeddingsConfig, IngestConfig, VocabConfig


class PipelineConfig(Strict):
    """The whole pipeline. The order is the Prefect run form's: the data and the models a user
    changes most first, how and where it runs last."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    downstream: list[Literal["ner", "lm", "translation", "speech", "sentiment", "captioning"]] = Field(
        default_factory=lambda: ["ner", "lm", "translation", "speech", "sentiment"],
        description="Stages after pretraining.")
    demo: DemoConfig = Field(default_factory=DemoConfig)
    vocab: VocabConfig = Field(default_factory=VocabConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    ner: NerConfig = Field(default_factory=NerConfig)
    lm: LmConfig = Field(default_factory=LmConfig)
    translation: TranslationConfig = Field(default_factory=TranslationConfig)
    speech: SpeechConfig = Field(default_factory=SpeechConfig)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    captioning: CaptioningConfig = Field(default_factory=CaptioningConfig)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)


def config_hash(model: BaseModel) -> str:
    """Stable hash of a config's values (key order and formatting do not matter)."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                model: type[BaseModel] = PipelineConfig) -> Any:
    """Read YAML (or the embedded defaults when path is None), apply overrides, validate.

    Precedence, lowest first: the YAML file, `SEQPIPE__SECTION__KEY=value` environment
    variables (pipeline config only; see `_env_overrides`), then `overrides` (`--set`).
    """
    data: dict = {}
    if path is not None:
        data = _read_yaml(Path(path))
    env = _env_overrides(os.environ) if issubclass(model, PipelineConfig) else []
    for item in env + list(overrides):
        _apply_override(data, item)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        where = f" in {path}" if path else ""
        if env:
            where += " (with environment overrides " + ", ".join(_env_name(i) for i in env) + ")"
        raise ConfigError(f"invalid configuration{where}:\n" + format_validation_error(err)) from None


def format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        reason = e["msg"]
        if e["type"] == "extra_forbidden":
            reason = "unknown key (check the spelling against conf/pipeline.yaml)"
        elif e["type"] != "missing":
            reason += f", got {e['input']!r}"
        lines.append(f"  {key}: {reason}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}" if not path.exists() else f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as err:  # a character YAML forbids (NUL, say): a position, no mark
        line = text.count("\n", 0, err.position) + 1
        column = err.position - text.rfind("\n", 0, err.position)
        raise ConfigError(f"{path}:{line}:{column}: not valid YAML (character #x{err.character:04x} "
                          f"is not allowed)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    values, pending = 0, [data]
    while pending:  # aliases share objects: a tiny file can expand exponentially ("billion laughs")
        item = pending.pop()
        values += 1
        if values > 100_000:
            raise ConfigError(f"{path}: too large: over 100000 values once aliases (*name) are expanded")
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _apply_override(data: dict, item: str) -> None:
    """Apply one `a.b.c=value` override; the value is parsed as YAML (numbers, lists, booleans)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


ENV_PREFIX = "SEQPIPE__"


def _env_overrides(environ: Mapping[str, str]) -> list[str]:
    """`SEQPIPE__RUNTIME__TRACKING_URI=http://mlflow:5000` -> `runtime.tracking_uri=http://mlflow:5000`.

    Names are case-insensitive, `__` separates the key path (single underscores belong to
    the key), values are parsed as YAML like `--set`; sorted so that the result is stable.
    """
    items = []
    for name in sorted(n for n in environ if n.upper().startswith(ENV_PREFIX)):
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if not all(parts):
            raise ConfigError(f"environment variable {name}: expected {ENV_PREFIX}SECTION__KEY=value")
        items.append(".".join(parts) + "=" + environ[name])
    return items


def _env_name(item: str) -> str:
    return ENV_PREFIX + item.partition("=")[0].replace(".", "__").upper()
