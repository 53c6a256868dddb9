"""The NER tagger: it can learn a tiny set perfectly, with CRF or softmax; inference finds entities."""
import pytest
import torch

from seqpipe.config import EncoderConfig, NerConfig
from seqpipe.tasks.ner.conll import ConllData, Sentence
from seqpipe.tasks.ner.data import prepare
from seqpipe.tasks.ner.predictor import NerTagger
from seqpipe.tasks.ner.task import Encoder, build_task, entity_scores, predict
from seqpipe.training.loop import make_optimizer

SENTENCES = [
    ("Harry Potter lives in London .", "B-PER E-PER O O S-LOC O"),
    ("Hermione Granger works for the Ministry of Magic .", "B-PER E-PER O O O B-ORG I-ORG E-ORG O"),
    ("Ron visited Paris and Berlin with Ginny .", "S-PER O S-LOC O S-LOC O S-PER O"),
    ("The Daily Prophet is read in Hogsmeade .", "O B-ORG E-ORG O O O S-LOC O"),
    ("Yesterday Albus Percival Dumbledore spoke .", "O B-PER I-PER E-PER O O"),
    ("Gringotts Bank opened in Diagon Alley .", "B-ORG E-ORG O O B-LOC E-LOC O"),
]


def tiny_data():
    sentences = []
    for i, (text, tags) in enumerate(SENTENCES):
        sentences.append(Sentence(text.split(), tags.split(), "toy.txt", i + 1))
    data = ConllData(sentences, [], len(sentences), "bioes", ["toy.txt"])
    return {"train": data, "dev": data}


def train_tiny(folder, crf=True, steps=150):
    """A tagger trained on SENTENCES with full-batch AdamW, in eval mode."""
    torch.manual_seed(0)
    cfg = NerConfig(crf=crf, encoder=EncoderConfig(hidden=32, dropout=0.0), word_dropout=0.0)
    prepare(folder, cfg, tiny_data(), pretrained=None)
    task = build_task({"folder": str(folder), "word_dropout": 0.0}, torch.device("cpu"))
    optimizer = make_optimizer(cfg.train.model_copy(update={"lr": 0.01}), task.model.parameters())
    batch = task.collate(task.train, True)
    for _ in range(steps):
        loss, _ = task.model(**batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.model.eval()
    return task


@pytest.mark.parametrize("crf", [True, False])
def test_the_tagger_overfits_a_tiny_set_to_f1_one(tmp_path, crf):
    task = train_tiny(tmp_path, crf)
    scores = task.summarize(task.evaluate(task.model, task.dev))
    assert scores["f1"] == 1.0, scores


def test_entity_scores_are_entity_level_and_per_type():
    gold = [["B-PER", "E-PER", "O", "S-LOC"]]
    half = [["B-PER", "E-PER", "O", "O"]]
    scores = entity_scores(list(zip(gold, half)))
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5
    assert scores["f1_PER"] == 1.0 and scores["f1_LOC"] == 0.0
    wrong_span = [["S-PER", "O", "O", "S-LOC"]]
    assert entity_scores(list(zip(gold, wrong_span)))["f1_PER"] == 0.0, "a partial span is a miss"


def test_a_trained_folder_tags_raw_text_with_character_offsets(tmp_path):
    task = train_tiny(tmp_path)
    torch.save(task.model.state_dict(), tmp_path / "model.pt")
    text = "Yesterday, Harry Potter lives in London."
    entities = NerTagger(tmp_path).entities(text)
    assert [(e["type"], e["text"]) for e in entities] == [("PER", "Harry Potter"), ("LOC", "London")]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)
    encoder = Encoder(tmp_path)
    assert predict(task.model, encoder, [encoder.encode(["London"])])[0] == ["S-LOC"]
