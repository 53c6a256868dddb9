"""What every config section shares: the error a bad configuration raises, and the strict
pydantic base (unknown keys are errors; a section given in part keeps its own defaults)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from seqpipe.core.errors import SeqpipeError


class ConfigError(SeqpipeError, ValueError):
    """A configuration file or override that cannot be used, with a readable reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _keep_section_defaults(cls, data: Any) -> Any:
        """A nested section given in part keeps this section's own defaults for the rest:
        `lm: {train: {epochs: 3}}` keeps the LM's batch size and learning rate, not TrainConfig's."""
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            value = data.get(name)
            if isinstance(value, dict) and field.default_factory is not None:
                default = field.default_factory()
                if isinstance(default, BaseModel) and default.model_fields_set:
                    data = {**data, name: {**default.model_dump(include=default.model_fields_set), **value}}
        return data
