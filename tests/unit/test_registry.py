"""The promotion gate, lineage and run comparison against a real MLflow (SQLite in a tmp folder)."""
import json

import pytest

from seqpipe.tasks.lm.stage import GATE as LM_GATE
from seqpipe.tasks.ner.stage import GATE as NER_GATE
from seqpipe.tasks.speech.stage import GATE as ASR_GATE
from seqpipe.tracking import registry
from seqpipe.tracking.lineage import compare_runs, lineage


@pytest.fixture
def mlflow_db(tmp_path, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("seqpipe")
    yield mlflow
    mlflow.set_tracking_uri(None)


def register(mlflow, name: str, tags: dict | None = None) -> str:
    """A registered version of a (model-less) run, as the pipeline's stage runs make them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    with mlflow.start_run(tags=tags or {}) as run:
        pass
    try:
        client.create_registered_model(name)
    except Exception:
        pass
    return str(client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id).version)


def aliases(name: str) -> dict:
    from mlflow.tracking import MlflowClient

    return {alias: str(v) for alias, v in MlflowClient().get_registered_model(name).aliases.items()}


def test_the_first_version_becomes_champion(mlflow_db):
    v1 = register(mlflow_db, "seqpipe-ner")
    decision = registry.promote_if_better("seqpipe-ner", v1, {"test_f1": 0.80}, "set-a", margin=0.0, gate=NER_GATE)
    assert decision.promoted and decision.metric == "test_f1" and aliases("seqpipe-ner") == {"champion": v1}


def test_a_better_version_is_promoted_and_a_worse_one_is_refused(mlflow_db):
    v1 = register(mlflow_db, "seqpipe-ner")
    registry.promote_if_better("seqpipe-ner", v1, {"test_f1": 0.80}, "set-a", margin=0.01, gate=NER_GATE)
    v2 = register(mlflow_db, "seqpipe-ner")
    better = registry.promote_if_better("seqpipe-ner", v2, {"test_f1": 0.85}, "set-a", margin=0.01, gate=NER_GATE)
    assert better.promoted and better.champion_version == v1 and better.champion_value == pytest.approx(0.80)
    assert aliases("seqpipe-ner")["champion"] == v2
    v3 = register(mlflow_db, "seqpipe-ner")
    worse = registry.promote_if_better("seqpipe-ner", v3, {"test_f1": 0.855}, "set-a", margin=0.01, gate=NER_GATE)
    assert not worse.promoted and "not above margin" in worse.reason
    assert aliases("seqpipe-ner") == {"champion": v2, "challenger": v3}


def test_lower_is_better_for_perplexity_and_error_rates(mlflow_db):
    v1 = register(mlflow_db, "seqpipe-asr")
    registry.promote_if_better("seqpipe-asr", v1, {"cer": 0.20}, "set-a", margin=0.0, gate=ASR_GATE)
    v2 = register(mlflow_db, "seqpipe-asr")
    assert not registry.promote_if_better("seqpipe-asr", v2, {"cer": 0.25}, "set-a", margin=0.0, gate=ASR_GATE).promoted
    v3 = register(mlflow_db, "seqpipe-asr")
    assert registry.promote_if_better("seqpipe-asr", v3, {"cer": 0.15}, "set-a", margin=0.0, gate=ASR_GATE).promoted
    assert aliases("seqpipe-asr")["champion"] == v3


def test_numbers_from_different_evaluation_sets_are_never_compared(mlflow_db):
    v1 = register(mlflow_db, "seqpipe-ner")
    registry.promote_if_better("seqpipe-ner", v1, {"test_f1": 0.50}, "set-a", margin=0.0, gate=NER_GATE)
    v2 = register(mlflow_db, "seqpipe-ner")
    decision = registry.promote_if_better("seqpipe-ner", v2, {"test_f1": 0.99}, "set-b", margin=0.0, gate=NER_GATE)
    assert not decision.promoted and "different evaluation set" in decision.reason
    assert registry.promote("seqpipe-ner", v2) == v1, "promoting by hand names the version it replaces"
    assert aliases("seqpipe-ner")["champion"] == v2


def test_the_decision_is_logged_on_the_stage_run(mlflow_db):
    from mlflow.tracking import MlflowClient

    v1 = register(mlflow_db, "seqpipe-lm")
    registry.promote_if_better("seqpipe-lm", v1, {"dev_perplexity": 300.0}, "set-a", margin=0.0, gate=LM_GATE)
    v2 = register(mlflow_db, "seqpipe-lm")
    with mlflow_db.start_run() as run:
        registry.promote_if_better("seqpipe-lm", v2, {"dev_perplexity": 250.0}, "set-a", margin=0.0, gate=LM_GATE)
    logged = MlflowClient().get_run(run.info.run_id).data
    assert logged.tags["seqpipe.promotion"] == "champion" and logged.tags["seqpipe.champion_version"] == v1
    assert logged.metrics["champion_dev_perplexity"] == 300.0


def test_evaluation_set_hash_follows_content_not_paths(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b" / "a.txt"
    b.parent.mkdir()
    a.write_text("EU B-ORG\n")
    b.write_text("EU B-ORG\n")
    assert registry.evaluation_set_hash([str(a)]) == registry.evaluation_set_hash([str(b)])
    b.write_text("EU B-LOC\n")
    assert registry.evaluation_set_hash([str(a)]) != registry.evaluation_set_hash([str(b)])
    assert registry.evaluation_set_hash([str(a)], {"seed": 1}) != registry.evaluation_set_hash([str(a)], {"seed": 2})


def test_lineage_walks_from_the_version_to_the_source_files(mlflow_db, tmp_path):
    def folder(name: str, manifest: dict):
        path = tmp_path / name
        path.mkdir()
        (path / "manifest.json").write_text(json.dumps(manifest))
        return str(path)

    corpus = folder("corpus-1", {"kind": "corpus", "content_hash": "c" * 64,
                                 "sources": [{"uri": "/data/news.txt", "sha256": "d" * 64}]})
    vocab = folder("vocab-1", {"kind": "vocab", "content_hash": "v" * 64, "corpus": {"uri": corpus}})
    embeddings = folder("embeddings-1", {"kind": "embeddings", "content_hash": "e" * 64, "corpus": corpus,
                                         "vocab": vocab})
    ner = folder("ner-1", {"kind": "ner", "content_hash": "n" * 64, "embeddings": embeddings,
                           "files": {"train": ["/data/train.txt"], "test": ["/data/test.txt"]}})
    version = register(mlflow_db, "seqpipe-ner", {"seqpipe.output": ner, "seqpipe.stage": "ner",
                                                  "seqpipe.git_commit": "abc123"})
    registry.promote("seqpipe-ner", version)
    rows = lineage("seqpipe-ner@champion")
    what = [r[0].strip() for r in rows]
    assert what == ["model", "stage run", "ner", "train data", "test data", "embeddings", "vocab", "corpus", "source"]
    assert rows[0][1] == f"seqpipe-ner v{version} (champion)" and "abc123" in rows[1][2]
    assert rows[-1][1] == "/data/news.txt" and rows[7][0] == "      corpus", "the corpus is listed once, under vocab"


def test_compare_lists_only_what_differs(mlflow_db):
    ids = []
    for lr, f1 in ((0.1, 0.8), (0.01, 0.9)):
        with mlflow_db.start_run() as run:
            mlflow_db.log_params({"train.lr": lr, "train.epochs": 3})
            mlflow_db.log_metrics({"test_f1": f1, "vocab_size": 100})
        ids.append(run.info.run_id)
    names, params, metrics = compare_runs(ids)
    assert len(names) == 2
    assert params == [("train.lr", ["0.1", "0.01"])]
    assert metrics == [("test_f1", ["0.8", "0.9"])]
