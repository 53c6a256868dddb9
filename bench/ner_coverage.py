"""Why pretrained vectors help a tagger or not: how many of the test set's entity tokens
the training words cover, and how many more the pretrained vectors add (lowercased, as the
tagger looks them up).

    .venv/bin/python bench/ner_coverage.py --train train.txt --test test.txt \
        --embeddings .seqpipe/embeddings/embeddings-<hash>
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True, help="CoNLL training file(s), one row each")
    parser.add_argument("--test", required=True, help="CoNLL test file")
    parser.add_argument("--embeddings", required=True, help="seqpipe embeddings folder or word2vec/GloVe file")
    args = parser.parse_args()

    from seqpipe.data.vectors import Embeddings
    from seqpipe.tasks.ner.conll import read_conll

    entity_tokens = [t.lower() for s in read_conll(args.test).sentences
                     for t, tag in zip(s.tokens, s.tags) if tag != "O"]
    pretrained = {w.lower() for w in Embeddings.open(args.embeddings).tokens}
    rows = [("pretrained vectors alone", "", _share(entity_tokens, pretrained))]
    for path in args.train:
        seen = {t.lower() for s in read_conll(path).sentences for t in s.tokens}
        rows.append((path, _share(entity_tokens, seen), _share(entity_tokens, seen | pretrained)))
    print(f"{len(entity_tokens):,} entity tokens in {args.test}")
    print_table(rows, ("training set", "covered by training words", "with the pretrained vectors"))


def _share(tokens: list[str], known: set[str]) -> str:
    return f"{sum(t in known for t in tokens) / len(tokens):.1%}"


if __name__ == "__main__":
    main()
