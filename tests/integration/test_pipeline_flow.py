"""The pipeline flow end to end: real Prefect (ephemeral), real Ray, MLflow on SQLite."""
import json
from pathlib import Path

import pytest

from seqpipe.config import PipelineConfig
from tests.conftest import PROSE, write_lines
from tests.integration.conftest import mlflow_runs


@pytest.mark.slow
def test_pipeline_runs_stages_on_ray_and_logs_nested_runs(tmp_path, prefect_harness, ray_session):
    from flows.pipeline import pipeline

    from seqpipe.tasks.ner.demo import build_ner_demo
    from seqpipe.tasks.translation.demo import build_date_demo

    sources = [write_lines(tmp_path / f"in/{i}.txt", PROSE * 50) for i in range(3)]
    ner_data = build_ner_demo(tmp_path / "ner-data", sentences=200)
    dates = build_date_demo(tmp_path / "dates", pairs=400)
    small = {"hidden": 16, "layers": 1}
    cfg = PipelineConfig.model_validate({
        "runtime": {"state_dir": str(tmp_path / "state"), "executor": "ray"},
        "ingest": {"sources": [str(tmp_path / "in")], "shard_mb": 0.005},
        "vocab": {"min_count": 2},
        "embeddings": {"dim": 16, "epochs": 1, "num_workers": 2},
        "downstream": ["ner", "lm", "translation"],  # speech: in the demo test below
        "ner": {"train_path": str(ner_data / "train.txt"), "test_path": str(ner_data / "test.txt"),
                "encoder": small, "train": {"epochs": 1}},
        "lm": {"dev_sentences": 20, "max_len": 16, "encoder": {**small, "bidirectional": False}, "train": {"epochs": 1}},
        "translation": {"train_data": {"table": str(dates / "train.tsv")}, "test_data": {"table": str(dates / "test.tsv")},
                        "level": "char", "encoder": small, "sweep": False, "analysis_sentences": 10,
                        "attention_plots": 1, "train": {"epochs": 1}},
    })
    summary = pipeline(config=cfg)
    assert summary["corpus"]["counts"]["documents"] == 3 * 4 * 50
    assert Path(summary["vocab"]["uri"], "vocab.parquet").exists()

    client, runs = mlflow_runs(tmp_path / "state")
    parent = next(r for r in runs if r.info.run_id == summary["mlflow_run_id"])
    children = {r.data.tags["seqpipe.stage"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"ingest", "vocab", "pretrain", "ner", "lm", "translation"}
    assert parent.data.tags["seqpipe.config_hash"] and parent.data.tags["seqpipe.git_commit"]
    ingest, vocab = children["ingest"], children["vocab"]
    assert ingest.data.metrics["documents"] == 600 and ingest.data.metrics["rejected"] == 0
    assert vocab.data.metrics["vocab_size"] > 4 and 0 < vocab.data.metrics["coverage_at_min_count"] <= 1
    assert ingest.data.params["lowercase"] == "True"
    assert len(ingest.inputs.dataset_inputs) == len(sources)
    assert vocab.inputs.dataset_inputs[0].dataset.digest == summary["corpus"]["content_hash"][:16]
    artifacts = {a.path for a in client.list_artifacts(vocab.info.run_id)}
    assert {"manifest.json", "vocab_head.tsv", "zipf.png"} <= artifacts
    assert "manifest.json" in {a.path for a in client.list_artifacts(ingest.info.run_id)}

    pretrain = children["pretrain"]
    assert pretrain.data.metrics["words_per_s"] > 0
    assert {"tsne.png", "metrics.json", "vectors.bin"} <= {a.path for a in client.list_artifacts(pretrain.info.run_id)}
    history = client.get_metric_history(pretrain.info.run_id, "loss")
    assert [m.step for m in history] == [1], "the epoch's metrics were logged by rank 0 only, once"
    versions = client.search_model_versions("name='seqpipe-embeddings'")
    assert versions and versions[0].run_id == pretrain.info.run_id
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/seqpipe-embeddings/{versions[0].version}")
    vectors = model.predict(["the", "no-such-word"])
    assert vectors.shape == (2, 16) and abs(vectors[0]).sum() > 0 and abs(vectors[1]).sum() == 0

    for stage, metric in (("ner", "dev_f1"), ("lm", "dev_perplexity"), ("translation", "dev_bleu")):
        run = children[stage]
        assert [m.step for m in client.get_metric_history(run.info.run_id, metric)] == [1], "rank 0 logs, once"
        assert "grad_norm" in run.data.metrics and run.data.tags["seqpipe.output"] == summary[stage]["uri"]
        name = "seqpipe-translator" if stage == "translation" else f"seqpipe-{stage}"
        version = client.search_model_versions(f"name='{name}'")[0]
        assert version.run_id == run.info.run_id
    entities = mlflow.pyfunc.load_model("models:/seqpipe-ner/1").predict(["Harry Potter visited London."])
    assert isinstance(entities[0], str) and isinstance(json.loads(entities[0]), list)
    log_probs = mlflow.pyfunc.load_model("models:/seqpipe-lm/1").predict(["the quick brown fox", "fox the brown"])
    assert len(log_probs) == 2 and all(lp < 0 for lp in log_probs)
    assert summary["ner"]["metrics"]["embedding_coverage"] > 0, "the tagger started from the pretrained vectors"
    translation = children["translation"]
    for key in ("bleu_beam", "bleu_greedy", "chrf_beam", "exact_match_beam", "beam_search_fault_fraction"):
        assert key in translation.data.metrics
    artifacts = {a.path for a in client.list_artifacts(translation.info.run_id)}
    assert "beam_errors.tsv" in artifacts and {a.path for a in client.list_artifacts(translation.info.run_id, "plots")}
    outputs = mlflow.pyfunc.load_model("models:/seqpipe-translator/1").predict(["1 mars 2021"])
    assert len(outputs) == 1 and isinstance(outputs[0], str)

    again = pipeline(config=cfg)
    assert again["corpus"]["reused"] and again["vocab"]["reused"] and again["embeddings"]["reused"]
    assert again["ner"]["reused"] and again["lm"]["reused"] and again["translation"]["reused"]
    assert again["vocab"]["uri"] == summary["vocab"]["uri"]


# not slow: `make test` runs this one end to end, on the same path as `make pipeline`
def test_pipeline_without_sources_uses_the_demo_corpus(tmp_path, monkeypatch, prefect_harness, ray_session):
    """As `make pipeline` runs it: the demo corpus, a relative state folder, Ray Train workers
    (which run in their own working directory) logging to the same MLflow database."""
    from flows.pipeline import pipeline

    monkeypatch.chdir(tmp_path)
    cfg = PipelineConfig.model_validate({
        "runtime": {"state_dir": ".seqpipe", "executor": "local"},
        "vocab": {"min_count": 1}, "embeddings": {"dim": 8, "epochs": 1},
        "downstream": ["ner", "speech"], "ner": {"encoder": {"hidden": 8}, "train": {"epochs": 1, "num_workers": 1}},
        "demo": {"max_mb": 0.3, "ner_sentences": 100, "speech_utterances": 30},
        "lm": {"dev_sentences": 20, "max_sentences": 300, "encoder": {"hidden": 16, "layers": 1, "bidirectional": False},
               "train": {"epochs": 1, "num_workers": 1}},
        "speech": {"n_mels": 40, "beam": 2, "beam_utterances": 3, "encoder": {"hidden": 16, "layers": 1},
                   "train": {"epochs": 1, "num_workers": 1}}})
    summary = pipeline(config=cfg)
    assert summary["corpus"]["counts"]["tokens"] > 20_000
    demo = next((tmp_path / ".seqpipe" / "demo").glob("english-*"))  # the demo extra is installed
    assert (demo / "manifest.json").exists() and list(demo.glob("*.txt"))
    client, runs = mlflow_runs(tmp_path / ".seqpipe")
    pretrain = next(r for r in runs if r.data.tags.get("seqpipe.stage") == "pretrain")
    assert [m.step for m in client.get_metric_history(pretrain.info.run_id, "loss")] == [1]
    assert Path(summary["ner"]["uri"], "model.pt").exists()
    assert next((tmp_path / ".seqpipe" / "demo").glob("ner-demo-*/train.txt")).exists()
    stages = {r.data.tags.get("seqpipe.stage") for r in runs}
    assert {"ner", "speech"} <= stages and "lm-char" not in stages, "no corpus LM is trained for speech by default"
    assert "cer_beam_lm" in summary["speech"]["metrics"], "speech fuses with an n-gram LM of its transcripts"
    assert Path(summary["speech"]["uri"], "fusion_lm.json").is_file()
    assert_progress_shown_in_prefect(["ingest", "pretrain", "ner", "speech"])


def assert_progress_shown_in_prefect(stages: list[str]) -> None:
    """What a person watching the flow run's page sees: a progress artifact per stage, at 100%
    when it ended, and a log line of the task run for each epoch."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # log lines reach the API in batches: the last stage's may be in one
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts() if a.type == "progress"}
        messages = [log.message for log in client.read_logs()]
    for stage in stages:
        assert artifacts[f"{stage}-progress"].data == 100, f"{stage}: no finished progress artifact"
    for stage in stages[1:]:
        assert any(m.startswith(f"{stage} epoch 1/1: ") for m in messages), f"{stage}: no epoch line in the task's log"
