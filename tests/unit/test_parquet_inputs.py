"""A user's Parquet file whose column names are not UTF-8 (pyarrow decodes them while opening
the file): every reader that takes Parquet answers with an error naming the file, not a
UnicodeDecodeError from inside pyarrow. Found by the parallel-text fuzz test."""
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqpipe.config import IngestConfig, SentimentConfig
from seqpipe.core.errors import InputError
from seqpipe.data.readers import read_piece
from seqpipe.data.sources import plan_sources
from seqpipe.tasks.sentiment.data import read_labelled
from seqpipe.tasks.speech.manifest import read_manifest
from seqpipe.tasks.translation.parallel_text import read_parallel


def bad_names_parquet(path, columns: dict[str, list[str]], name: str, store_schema: bool):
    """A Parquet file of `columns` in which every stored copy of column `name` starts with byte 0x80."""
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, store_schema=store_schema)
    data = buffer.getvalue()
    assert data.count(name.encode()) >= 1
    path.write_bytes(data.replace(name.encode(), b"\x80" + name.encode()[1:]))
    return path


def corpus(path):
    sources, _ = plan_sources([str(path)], "auto", 32 << 20, "line")
    return [b for s in sources for piece in s.pieces for b in read_piece(s, piece, IngestConfig())]


READERS = {
    "corpus": ({"text": ["a b"], "id": ["1"]}, "id", corpus),
    "parallel": ({"source": ["a"], "target": ["b"]}, "target", lambda p: read_parallel(table=p, max_reject_rate=1.0)),
    "sentiment": ({"text": ["good"], "label": ["pos"]}, "label",
                  lambda p: read_labelled([str(p)], SentimentConfig(max_reject_rate=1.0))),
    "speech": ({"path": ["a.wav"], "transcript": ["hi"]}, "transcript",
               lambda p: read_manifest(p, max_reject_rate=1.0)),
}


@pytest.mark.parametrize("store_schema", [True, False])  # with Arrow's own copy of the schema, or only Parquet's
@pytest.mark.parametrize("reader", sorted(READERS))
def test_column_names_that_are_not_utf8_are_a_clear_error(tmp_path, reader, store_schema):
    columns, broken, read = READERS[reader]
    path = bad_names_parquet(tmp_path / "bad.parquet", columns, broken, store_schema)
    with pytest.raises(InputError, match="bad.parquet: not a"):
        read(path)
