"""A stage whose folder lives on object storage (a real S3-compatible server on 127.0.0.1):
what it returns when another writer publishes first, and after its own publishing failed."""
import json


from seqpipe.core import store
from seqpipe.core.stage import Output, run_stage

URI = "s3://seqpipe/state/lm/lm-0123"


def folder_with(path, metrics: dict, content: str):
    path.mkdir(parents=True)
    (path / "model.pt").write_text(content)
    (path / "manifest.json").write_text(json.dumps({"content_hash": content, "metrics": metrics}))
    return path


def test_when_another_writer_publishes_first_its_folder_and_metrics_are_the_result(s3_server, tmp_path):
    """The gate must judge what is registered: the winner's folder, with the winner's metrics."""
    def build(tmp):
        store.publish(folder_with(tmp_path / "other", {"dev_perplexity": 150.0}, "theirs"), URI)  # wins meanwhile
        (tmp / "model.pt").write_text("ours")
        return {"content_hash": "ours", "metrics": {"dev_perplexity": 90.0}}

    result = run_stage(Output(tmp_path / "work" / "lm-0123", URI), "lm", "0123", build)
    assert result.reused and result.content_hash == "theirs" and result.metrics == {"dev_perplexity": 150.0}
    assert (tmp_path / "work" / "lm-0123" / "model.pt").read_text() == "theirs", "the working copy is the winner's"
    assert (store.fetch(URI, tmp_path / "elsewhere") / "model.pt").read_text() == "theirs"


def test_a_folder_built_by_a_run_whose_publishing_failed_is_new_when_published(s3_server, tmp_path):
    """It was never registered: publishing it now makes it this run's output, to register and gate."""
    folder_with(tmp_path / "work" / "lm-0123", {"dev_perplexity": 90.0}, "ours")

    def build(tmp):
        raise AssertionError("a complete working copy is published, not rebuilt")

    result = run_stage(Output(tmp_path / "work" / "lm-0123", URI), "lm", "0123", build)
    assert not result.reused and result.content_hash == "ours" and store.is_published(URI)
