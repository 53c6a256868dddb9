"""The sentiment classifier: it learns a tiny set perfectly with every pooling, beats a
bag-of-words model where word order decides, ignores padding; its readers take CSV, TSV,
JSONL and Parquet and name the file and line of a bad row."""
import gzip
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from seqpipe.config import EncoderConfig, SentimentConfig
from seqpipe.core.errors import InputError, RejectRateExceeded
from seqpipe.models.classifier import SequenceClassifier
from seqpipe.models.embedding import word_embedding
from seqpipe.tasks.sentiment import data
from seqpipe.tasks.sentiment.demo import build_sentiment_demo
from seqpipe.tasks.sentiment.evaluate import bag_of_words_baseline
from seqpipe.tasks.sentiment.predictor import Classifier
from seqpipe.tasks.sentiment.task import build_task
from seqpipe.training.loop import make_optimizer

TINY = [("a wonderful film", "positive"), ("not a wonderful film", "negative"), ("a dull film", "negative"),
        ("not a dull film at all", "positive"), ("i expected dull but it was wonderful", "positive"),
        ("i expected wonderful but it was dull", "negative")]


def labelled(rows) -> data.LabelledTexts:
    return data.LabelledTexts([t for t, _ in rows], [y for _, y in rows], [], len(rows), ["toy.tsv"])


def train(folder, splits, cfg, epochs: int, batch: int = 64):
    """The task of `splits` trained in-process with AdamW, in eval mode."""
    torch.manual_seed(0)
    data.prepare(folder, cfg, splits, pretrained=None)
    task = build_task({"folder": str(folder), "word_dropout": 0.0}, torch.device("cpu"))
    optimizer = make_optimizer(cfg.train.model_copy(update={"lr": 0.01}), task.model.parameters())
    rng = random.Random(0)
    for _ in range(epochs):
        task.model.train()
        rng.shuffle(task.train)
        for start in range(0, len(task.train), batch):
            loss, _ = task.model(**task.collate(task.train[start:start + batch], True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    task.model.eval()
    return task


@pytest.mark.parametrize("pooling", ["last", "attention", "both"])
def test_the_classifier_overfits_a_tiny_set(tmp_path, pooling):
    cfg = SentimentConfig(pooling=pooling, encoder=EncoderConfig(hidden=16, dropout=0.0))
    task = train(tmp_path, {"train": labelled(TINY), "dev": labelled(TINY)}, cfg, epochs=60)
    assert task.summarize(task.evaluate(task.model, task.dev)) == {"accuracy": 1.0, "macro_f1": 1.0}


def test_word_order_beats_a_bag_of_words_on_unseen_negations_and_contrasts(tmp_path):
    demo = build_sentiment_demo(tmp_path / "demo", texts=3000)
    cfg = SentimentConfig(train_path=str(demo / "train.tsv"), test_path=str(demo / "test.tsv"),
                          dev_path=str(demo / "dev.tsv"), encoder=EncoderConfig(hidden=32, dropout=0.0))
    splits = data.read_splits(cfg, data.split_files(cfg))
    assert not set(splits["test"].texts) & set(splits["train"].texts), "no test text was seen in training"
    (tmp_path / "model").mkdir()
    task = train(tmp_path / "model", splits, cfg, epochs=6)
    accuracy = task.summarize(task.evaluate(task.model, task.dev))["accuracy"]
    bow = bag_of_words_baseline(splits)["bow_dev_accuracy"]  # below chance: "not great" taught it "great"
    assert accuracy >= 0.9 and bow < 0.5, (accuracy, bow)


def test_attention_ignores_padding():
    torch.manual_seed(0)
    model = SequenceClassifier(word_embedding(10, 4), 2, hidden=4, pooling="attention", dropout=0.0).eval()
    words = torch.tensor([[3, 4, 0, 0], [3, 4, 5, 6]])
    pooled, weights = model.pooled(words, torch.tensor([2, 4]))
    assert torch.all(weights[0, 2:] == 0) and torch.allclose(weights.sum(-1), torch.ones(2))
    alone, _ = model.pooled(words[:1, :2], torch.tensor([2]))
    assert torch.allclose(pooled[0], alone[0], atol=1e-6), "padding changes nothing"


def test_predictor_prints_labels_and_probabilities(tmp_path):
    cfg = SentimentConfig(encoder=EncoderConfig(hidden=16, dropout=0.0))
    task = train(tmp_path, {"train": labelled(TINY), "dev": labelled(TINY)}, cfg, epochs=60)
    torch.save(task.model.state_dict(), tmp_path / "model.pt")
    found = Classifier(tmp_path).classify(["a wonderful film", "Not a dull film at all!", ""])
    assert [f["label"] for f in found[:2]] == ["positive", "positive"]
    assert all(abs(sum(f["probabilities"].values()) - 1) < 1e-5 and f["probability"] > 0.5 for f in found)


# ----------------------------------------------------------------------------- readers
def read(tmp_path, name: str, content, **settings) -> data.LabelledTexts:
    path = tmp_path / name
    if isinstance(content, pa.Table):
        pq.write_table(content, path)
    elif name.endswith(".gz"):
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content, encoding="utf-8")
    return data.read_labelled([str(path)], SentimentConfig(**settings))


def test_readers_take_csv_tsv_jsonl_and_parquet(tmp_path):
    csv_rows = read(tmp_path, "a.csv", 'id,text,label\n1,"Great, really great",pos\n2,"dull ""as"" ditch",neg\n')
    assert csv_rows.texts == ["Great, really great", 'dull "as" ditch'] and csv_rows.labels == ["pos", "neg"]
    tsv = read(tmp_path, "a.tsv.gz", 'sentence\tlabel\nit is "fine"\t1\n', text_column="sentence")
    assert tsv.texts == ['it is "fine"'] and tsv.labels == ["1"]
    jsonl = read(tmp_path, "a.jsonl", json.dumps({"review": "ok", "stars": 4}) + "\n",
                 text_column="review", label_column="stars")
    assert jsonl.texts == ["ok"] and jsonl.labels == ["4"]
    table = pa.table({"text": ["good", "bad"], "label": [1, 0]})
    assert read(tmp_path, "a.parquet", table).labels == ["1", "0"]
    headless = read(tmp_path, "b.tsv", "0\tfine film\n1\tbad film\n", text_column=1, label_column=0)
    assert headless.texts == ["fine film", "bad film"] and headless.labels == ["0", "1"]


def test_a_bad_row_is_an_error_naming_file_and_line_or_a_counted_reject(tmp_path):
    content = "text\tlabel\ngood\tpos\n\tneg\nbad\tneg\nonly one column\n"
    with pytest.raises(InputError, match=r"c\.tsv:3: no text"):
        read(tmp_path, "c.tsv", content)
    kept = read(tmp_path, "c.tsv", content, max_reject_rate=0.5)
    assert kept.texts == ["good", "bad"] and [(r.line, r.reason) for r in kept.rejects] == [
        (3, "no text"), (5, "1 columns, expected at least 2")]
    with pytest.raises(RejectRateExceeded):
        read(tmp_path, "c.tsv", content, max_reject_rate=0.2)
    with pytest.raises(InputError, match=r"d\.jsonl:2: not JSON"):
        read(tmp_path, "d.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')
    with pytest.raises(InputError, match=r"e\.tsv:3: label 'meh' is not one of"):
        read(tmp_path, "e.tsv", "text\tlabel\na\tpos\nb\tmeh\n", labels=["pos", "neg"])
    with pytest.raises(InputError, match=r"f\.csv:1: the header row .* has no column 'text'"):
        read(tmp_path, "f.csv", "review,label\na,pos\n")
    with pytest.raises(InputError, match=r"g\.xml: unknown format"):
        read(tmp_path, "g.xml", "<a/>")


def test_a_label_never_seen_in_training_is_an_error(tmp_path):
    splits = {"train": labelled(TINY), "dev": labelled([("so so", "neutral")])}
    with pytest.raises(InputError, match="'neutral' of the dev split never occurs in training"):
        data.prepare(tmp_path, SentimentConfig(), splits, pretrained=None)
