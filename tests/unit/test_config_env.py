"""SEQPIPE__SECTION__KEY environment overrides: how containers point seqpipe at services."""
import pytest

from seqpipe.config import ConfigError, EmbeddingsConfig, load_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.upper().startswith("SEQPIPE__"):
            monkeypatch.delenv(name)


def test_environment_sets_nested_keys_parsed_as_yaml(monkeypatch):
    monkeypatch.setenv("SEQPIPE__RUNTIME__TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("SEQPIPE__RUNTIME__RAY_ADDRESS", "ray://ray-head:10001")
    monkeypatch.setenv("SEQPIPE__RUNTIME__NUM_CPUS", "8")
    monkeypatch.setenv("SEQPIPE__NER__TRAIN__USE_GPU", "true")
    monkeypatch.setenv("SEQPIPE__INGEST__SOURCES", "[s3://corpus/a/, s3://corpus/b/]")
    cfg = load_config(None)
    assert cfg.runtime.tracking_uri == "http://mlflow:5000"
    assert cfg.runtime.ray_address == "ray://ray-head:10001"
    assert cfg.runtime.num_cpus == 8 and cfg.ner.train.use_gpu is True
    assert cfg.ingest.sources == ["s3://corpus/a/", "s3://corpus/b/"]


def test_precedence_yaml_then_environment_then_set(monkeypatch, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("runtime:\n  tracking_uri: http://from-yaml:5000\n  experiment: from-yaml\nvocab:\n  min_count: 2\n")
    monkeypatch.setenv("SEQPIPE__RUNTIME__TRACKING_URI", "http://from-env:5000")
    monkeypatch.setenv("SEQPIPE__VOCAB__MIN_COUNT", "3")
    cfg = load_config(path, ["vocab.min_count=4"])
    assert cfg.runtime.tracking_uri == "http://from-env:5000"  # env beats YAML
    assert cfg.runtime.experiment == "from-yaml"  # the rest of the section is kept
    assert cfg.vocab.min_count == 4  # --set beats env


def test_unknown_key_names_the_variable(monkeypatch):
    monkeypatch.setenv("SEQPIPE__RUNTIME__TRAKING_URI", "http://mlflow:5000")
    with pytest.raises(ConfigError) as err:
        load_config(None)
    assert "runtime.traking_uri: unknown key" in str(err.value)
    assert "SEQPIPE__RUNTIME__TRAKING_URI" in str(err.value)


def test_malformed_name_is_rejected(monkeypatch):
    monkeypatch.setenv("SEQPIPE__RUNTIME____RAY_ADDRESS", "auto")
    with pytest.raises(ConfigError, match="SEQPIPE__SECTION__KEY"):
        load_config(None)


def test_other_variables_and_other_models_are_left_alone(monkeypatch):
    monkeypatch.setenv("SEQPIPE_HOME", "/elsewhere")  # one underscore: not an override
    monkeypatch.setenv("SEQPIPE__RUNTIME__RAY_ADDRESS", "auto")
    assert load_config(None).runtime.ray_address == "auto"
    # a stage's own model has no `runtime` section: the pipeline variables do not apply to it
    assert load_config(None, model=EmbeddingsConfig) == EmbeddingsConfig()
