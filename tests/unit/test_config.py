import pytest

from seqpipe.config import ConfigError, PipelineConfig, config_hash, load_config


def test_defaults_load_without_a_file():
    cfg = load_config(None)
    assert cfg.vocab.min_count == 5 and cfg.ingest.lowercase is True


def test_repository_config_matches_the_defaults():
    """conf/pipeline.yaml documents the defaults: it must load and equal them."""
    assert load_config("conf/pipeline.yaml") == PipelineConfig()


def test_overrides_are_parsed_as_yaml_values():
    cfg = load_config(None, ["vocab.min_count=3", "ingest.lowercase=false", "ingest.sources=[a.txt, b.txt]"])
    assert cfg.vocab.min_count == 3 and cfg.ingest.lowercase is False
    assert cfg.ingest.sources == ["a.txt", "b.txt"]


def test_deprecated_vocab_sample_is_accepted_with_a_warning_and_left_out(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("vocab:\n  min_count: 5\n  sample: 0.01\n")
    for args in [(path,), (None, ["vocab.sample=0.01"])]:
        with pytest.warns(FutureWarning, match="vocab.sample is ignored; set embeddings.sample"):
            cfg = load_config(*args)
        assert "sample" not in cfg.vocab.model_dump() and cfg.embeddings.sample == 1e-3
        assert config_hash(cfg) == config_hash(PipelineConfig())


def test_invalid_value_names_the_key_path_and_the_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("vocab:\n  min_count: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "vocab.min_count" in str(err.value) and "greater than or equal to 1" in str(err.value)
    assert "got 0" in str(err.value) and str(path) in str(err.value)


def test_unknown_key_is_an_error_not_silently_ignored():
    with pytest.raises(ConfigError, match="ingest.lowercas: unknown key"):
        load_config(None, ["ingest.lowercas=false"])


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("vocab:\n  min_count: [1\n  sample: 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+:\d+: not valid YAML"):
        load_config(path)


def test_malformed_override_is_rejected():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["vocab.min_count"])


def test_config_hash_ignores_formatting_but_not_values():
    a, b = load_config(None), load_config(None, ["vocab.min_count=5"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(load_config(None, ["vocab.min_count=6"]))


def test_a_section_given_in_part_keeps_its_own_defaults():
    """`--set lm.train.max_minutes=1` changes the budget only: the LM's learning rate and batch
    size stay the LM's, not the generic TrainConfig's."""
    lm = load_config(None, ["lm.train.max_minutes=1"]).lm
    assert (lm.train.max_minutes, lm.train.lr, lm.train.batch_size, lm.train.num_workers) == (1.0, 5e-3, 64, 1)
    cfg = PipelineConfig.model_validate({"speech": {"train": {"epochs": 1}}, "lm": {"encoder": {"hidden": 16}}})
    assert (cfg.speech.train.epochs, cfg.speech.train.batch_size) == (1, PipelineConfig().speech.train.batch_size)
    assert (cfg.lm.encoder.hidden, cfg.lm.encoder.bidirectional, cfg.lm.encoder.layers) == (16, False, 1)
