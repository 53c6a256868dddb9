"""The sentiment reader on bad bytes (CSV, TSV, JSONL, Parquet, compressed): every row accepted
or rejected with its line, or one clear error naming the file."""
from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqpipe.config import SentimentConfig
from seqpipe.tasks.sentiment.data import read_labelled

from .fuzzing import attempt, bad_inputs, check_rejects, fuzz, parquet_bytes, plain_words, read_ok

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

rows = st.lists(st.tuples(plain_words, st.sampled_from(["positive", "negative", "pos", ""])), min_size=1, max_size=8)
FORMATS = {
    "tsv": lambda r: ("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in r)).encode(),
    "csv": lambda r: ("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in r)).encode(),
    "jsonl": lambda r: "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in r).encode(),
}
files = st.sampled_from(sorted(FORMATS)).flatmap(lambda fmt: st.tuples(st.just(fmt), bad_inputs(rows.map(FORMATS[fmt]))))


@fuzz(500)
@given(file=files, compress=st.booleans())
def test_sentiment_reader_on_bad_bytes(tmp_path_factory, file, compress):
    fmt, data = file
    path = tmp_path_factory.getbasetemp() / f"bad.{fmt}{'.gz' if compress else ''}"
    path.write_bytes(gzip.compress(data)[: len(data) // 2 + 20] if compress and data and data[0] % 2 else
                     gzip.compress(data) if compress else data)
    result = attempt("sentiment", [path], lambda: read_labelled([str(path)], SentimentConfig(max_reject_rate=1.0)))
    if read_ok(result):
        assert result.read == len(result.texts) + len(result.rejects) > 0
        assert all(t.strip() and y for t, y in zip(result.texts, result.labels))
        check_rejects(result.rejects, [path], None if compress else data)


@pytest.mark.parametrize("table", [pa.table({"text": ["good", None, ""], "label": ["pos", "neg", "neg"]}),
                                   pa.table({"review": ["good"], "label": ["pos"]}),
                                   pa.table({"text": [1, 2], "label": [None, 0]})])
def test_sentiment_reader_on_odd_parquet(tmp_path, table):
    path = tmp_path / "odd.parquet"
    path.write_bytes(parquet_bytes(table))
    for data in (path.read_bytes(), path.read_bytes()[:-10]):
        path.write_bytes(data)
        result = attempt("sentiment", [path], lambda: read_labelled([str(path)], SentimentConfig(max_reject_rate=1.0)))
        if read_ok(result):
            assert result.read == len(result.texts) + len(result.rejects) > 0
