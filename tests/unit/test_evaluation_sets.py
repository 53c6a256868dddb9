"""The promotion gate compares like with like: every setting that changes what a stage's
gate metric is measured on (which examples, read how, predicted as which units) changes its
evaluation set, and settings that do not (the learning rate) leave it alone."""
import pytest

from seqpipe.config import (EmbeddingsConfig, IngestConfig, LmConfig, NerConfig, RuntimeConfig, SentimentConfig,
                            SpeechConfig, TrainConfig, TranslationConfig, VocabConfig)
from seqpipe.core.stage import StageInputs
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import run_vocab
from seqpipe.tasks.embeddings import stage as embeddings
from seqpipe.tasks.lm import stage as lm
from seqpipe.tasks.ner import stage as ner
from seqpipe.tasks.sentiment import stage as sentiment
from seqpipe.tasks.speech import stage as speech
from seqpipe.tasks.translation import stage as translation
from seqpipe.tracking import registry

LINES = ["the cat sat on the mat", "a dog ran in the park", "the cat and the dog met", "a rare aardvark sat"] * 5


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """One corpus and two vocabularies of it: min_count 1 and min_count 10 (rare words folded into <unk>)."""
    tmp = tmp_path_factory.mktemp("evalsets")
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp / "state"))
    (tmp / "a.txt").write_text("".join(line + "\n" for line in LINES + ["a dog"] * 10), encoding="utf-8")
    corpus = run_ingest(IngestConfig(sources=[str(tmp / "a.txt")]), runtime).uri
    return {count: StageInputs(corpus=corpus, vocab=run_vocab(VocabConfig(min_count=count), corpus, runtime).uri)
            for count in (1, 10)}


def eval_hash(task, cfg, inputs=None) -> str:
    return registry.evaluation_set_hash(*task.evaluation_set(cfg, inputs or StageInputs()))


def test_lm_perplexities_over_other_tokens_or_sentences_are_not_compared(upstream):
    """vocab.min_count=10 folds words into <unk> and lowers perplexity; another seed holds out
    other sentences; a smaller subword model predicts other units. None is like with like."""
    base = LmConfig()
    same = eval_hash(lm, base, upstream[1])
    assert eval_hash(lm, base.model_copy(update={"train": TrainConfig(lr=0.1, seed=1)}), upstream[1]) == same
    assert eval_hash(lm, base, upstream[10]) != same
    assert eval_hash(lm, base.model_copy(update={"train": TrainConfig(seed=2)}), upstream[1]) != same
    subword = LmConfig(level="subword")
    smaller = LmConfig.model_validate({"level": "subword", "subword": {"vocab_size": 400}})
    assert eval_hash(lm, subword, upstream[1]) != eval_hash(lm, smaller, upstream[1])
    assert eval_hash(lm, LmConfig(level="char"), upstream[1]) != same


def test_analogy_accuracy_over_another_vocabulary_is_not_compared(upstream):
    cfg = EmbeddingsConfig()
    assert eval_hash(embeddings, cfg, upstream[1]) != eval_hash(embeddings, cfg, upstream[10])
    assert eval_hash(embeddings, cfg, upstream[1]) == eval_hash(embeddings, EmbeddingsConfig(dim=50), upstream[1])


@pytest.mark.parametrize("task, cfg, changed", [
    (ner, NerConfig(test_path="test.conll"), {"scheme": "iob1"}),
    (ner, NerConfig(test_path="test.conll"), {"tag_column": 1}),
    (sentiment, SentimentConfig(test_path="test.csv"), {"text_column": "sentence"}),
    (sentiment, SentimentConfig(test_path="test.csv"), {"labels": ["neg", "pos"]}),
    (speech, SpeechConfig(test_manifest="test.csv"), {"alphabet": " abc"}),
    (speech, SpeechConfig(test_manifest="test.csv"), {"beam_utterances": 50}),
    (translation, TranslationConfig.model_validate({"test_data": {"table": "t.tsv"}}), {"max_tokens": 20}),
    (translation, TranslationConfig.model_validate({"test_data": {"table": "t.tsv"}}), {"target_field": "de"}),
])
def test_a_setting_that_changes_what_is_scored_changes_the_evaluation_set(tmp_path, monkeypatch, task, cfg, changed):
    monkeypatch.chdir(tmp_path)
    for name in ("test.conll", "test.csv", "t.tsv"):
        (tmp_path / name).write_text("x\n")
    assert eval_hash(task, cfg.model_copy(update=changed)) != eval_hash(task, cfg)
    assert eval_hash(task, cfg.model_copy(update={"train": TrainConfig(lr=0.5)})) == eval_hash(task, cfg)


def test_the_gate_keeps_the_lm_champion_when_a_retrain_folds_more_words_into_unk(upstream, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("seqpipe")  # not the experiment an earlier test set on another database
    try:
        client, versions = MlflowClient(), []
        client.create_registered_model("seqpipe-lm")
        for _ in range(2):
            with mlflow.start_run() as run:
                pass
            versions.append(client.create_model_version("seqpipe-lm", f"runs:/{run.info.run_id}/m", run.info.run_id).version)
        registry.promote_if_better("seqpipe-lm", versions[0], {"dev_perplexity": 170.0},
                                   eval_hash(lm, LmConfig(), upstream[1]), 0.0, lm.GATE)
        decision = registry.promote_if_better("seqpipe-lm", versions[1], {"dev_perplexity": 90.0},
                                              eval_hash(lm, LmConfig(), upstream[10]), 0.0, lm.GATE)
        assert not decision.promoted and "different evaluation set" in decision.reason
        assert client.get_model_version_by_alias("seqpipe-lm", "champion").version == versions[0]
    finally:
        mlflow.set_tracking_uri(None)
