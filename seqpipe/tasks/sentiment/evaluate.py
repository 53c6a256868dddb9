"""After training: accuracy and macro-F1 of the best epoch's classifier on dev and test, the
test confusion matrix, and the bag-of-words baseline it has to beat."""
from __future__ import annotations

from pathlib import Path

from seqpipe.core.plots import confusion_plot
from seqpipe.core.artifacts import read_json
from seqpipe.tasks.sentiment.data import LabelledTexts
from seqpipe.tasks.sentiment.task import build_classifier, probabilities, read_lines, scores


def evaluate_model(folder: Path, best_state: dict, data: dict[str, LabelledTexts]) -> dict:
    """dev_* and test_* accuracy and macro-F1, confusion_matrix.png (test, else dev), and
    bow_*_accuracy: a logistic regression on word counts, trained on the same texts."""
    model = build_classifier(folder, with_init=False)
    model.load_state_dict(best_state)
    model.eval()
    labels, examples = read_lines(folder / "labels.txt"), read_json(folder / "data.json")
    metrics = {}
    for split in ("dev", "test"):
        if split in examples:
            predicted = probabilities(model, examples[split]).argmax(dim=-1).tolist()
            gold = [label for _, label in examples[split]]
            metrics.update({f"{split}_{k}": v for k, v in scores(list(zip(gold, predicted))).items()})
            confusion_plot([labels[i] for i in gold], [labels[i] for i in predicted], labels,
                           folder / "confusion_matrix.png", f"Confusion matrix ({split}, {len(gold)} texts)")
    metrics.update(bag_of_words_baseline(data))
    return metrics


def bag_of_words_baseline(data: dict[str, LabelledTexts]) -> dict:
    """bow_dev_accuracy and bow_test_accuracy of word counts (no order at all) into a
    logistic regression (scikit-learn): what word order adds is the model's margin over it."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    features = vectorizer.fit_transform(data["train"].texts)
    baseline = LogisticRegression(max_iter=2000).fit(features, data["train"].labels)
    return {f"bow_{split}_accuracy": float(baseline.score(vectorizer.transform(data[split].texts), data[split].labels))
            for split in ("dev", "test") if split in data}


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """What the gate's scores are measured on: the test files, else the held-out part of train,
    read as the settings say (which columns, and the labels: a row with another label is a reject)."""
    reading = {"format": cfg.format, "text_column": cfg.text_column, "label_column": cfg.label_column,
               "labels": cfg.labels}
    if cfg.test_path:
        return [cfg.test_path], reading
    return [cfg.train_path, cfg.dev_path], {**reading, "dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed}
