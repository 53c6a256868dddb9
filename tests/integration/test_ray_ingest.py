"""The Ray fan-out writes exactly what the in-process path writes."""
import pytest

from seqpipe.config import RuntimeConfig, VocabConfig
from seqpipe.data.ingest import read_corpus, run_ingest
from seqpipe.data.vocab import run_vocab
from tests.conftest import PROSE, write_lines

pytestmark = pytest.mark.slow


def test_ray_and_local_ingest_agree(tmp_path, ingest_cfg, ray_session):
    src = write_lines(tmp_path / "a.txt", [PROSE[i % 4] + f" Line {i}." for i in range(5000)])
    local = RuntimeConfig(executor="local", state_dir=str(tmp_path / "s1"))
    on_ray = RuntimeConfig(executor="ray", state_dir=str(tmp_path / "s2"))
    a = run_ingest(ingest_cfg(src, shard_mb=0.05, out=str(tmp_path / "c1")), local)
    b = run_ingest(ingest_cfg(src, shard_mb=0.05, out=str(tmp_path / "c2")), on_ray)
    assert a.content_hash == b.content_hash
    assert read_corpus(a.uri).equals(read_corpus(b.uri))
    va = run_vocab(VocabConfig(out=str(tmp_path / "v1")), a.uri, local)
    vb = run_vocab(VocabConfig(out=str(tmp_path / "v2")), b.uri, on_ray)
    assert va.content_hash == vb.content_hash
