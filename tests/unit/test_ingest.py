"""The ingest stage's contract: rejects counted and kept, reject rate, idempotence, atomicity."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seqpipe.core.errors import RejectRateExceeded
from seqpipe.data.ingest import read_corpus, run_ingest
from tests.conftest import PROSE, write_lines


def broken_sources(tmp_path: Path) -> list[Path]:
    txt = write_lines(tmp_path / "bad.txt", [PROSE[0], b"\xff\xfe not utf-8", "", "x" * 50, PROSE[1]])
    jsonl = write_lines(tmp_path / "bad.jsonl", ['{"text": "fine line"}', '{"text": ', '{"other": 1}',
                                                 '{"text": 7}', "[1, 2]", '{"text": "another fine line"}'])
    csv = tmp_path / "bad.csv"
    csv.write_text('id,text\n1,good row\n2,too,many,fields\n3,"unterminated\n')
    return [txt, jsonl, csv]


def test_every_record_is_accepted_or_rejected_with_its_line(tmp_path, runtime, ingest_cfg):
    result = run_ingest(ingest_cfg(*broken_sources(tmp_path), max_record_chars=40, max_reject_rate=1.0), runtime)
    c = result.counts
    assert c["read"] == 5 + 6 + 3 and c["documents"] + c["rejected"] == c["read"]
    rejects = pq.read_table(Path(result.uri) / "rejects").to_pylist()
    found = {(Path(r["source"]).name, r["line"]): r["reason"] for r in rejects}
    assert found[("bad.txt", 2)].startswith("undecodable as utf-8: byte 0xff")
    assert found[("bad.txt", 3)].startswith("empty")
    assert found[("bad.txt", 4)].startswith("over-long: 50 characters")
    assert found[("bad.jsonl", 2)].startswith("malformed JSON")
    assert found[("bad.jsonl", 3)] == "missing field 'text'"
    assert found[("bad.jsonl", 4)] == "field 'text' is int, not text"
    assert "expected a JSON object" in found[("bad.jsonl", 5)]
    assert found[("bad.csv", 3)] == "expected 2 fields, got 4"
    assert len(rejects) == c["rejected"]
    raw = {r["line"]: r["raw"] for r in rejects if r["source"].endswith("bad.txt")}
    assert raw[2] == b"\xff\xfe not utf-8"


def test_reject_rate_over_the_limit_fails_and_keeps_the_rejects(tmp_path, runtime, ingest_cfg):
    with pytest.raises(RejectRateExceeded, match=r"rejected \(\d+\.\d%\) > max_reject_rate 5.0%") as err:
        run_ingest(ingest_cfg(*broken_sources(tmp_path), max_record_chars=40), runtime)
    assert not list((tmp_path / "corpus").glob("corpus-*")), "no corpus is published"
    failed = next((tmp_path / "corpus").glob("failed-corpus-*"))
    assert str(failed / "rejects") in str(err.value)
    assert pq.read_table(failed / "rejects").num_rows > 0


def test_blank_lines_do_not_count_towards_the_reject_rate(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.txt", [PROSE[0], "", "   ", PROSE[1], ""])
    result = run_ingest(ingest_cfg(src, max_reject_rate=0.0), runtime)
    assert result.counts["blank"] == 3 and result.counts["documents"] == 2


def test_rerun_is_a_no_op_and_changed_input_is_a_new_corpus(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.txt", PROSE)
    first = run_ingest(ingest_cfg(src), runtime)
    mtime = (Path(first.uri) / "manifest.json").stat().st_mtime_ns
    again = run_ingest(ingest_cfg(src), runtime)
    assert again.reused and again.uri == first.uri
    assert (Path(first.uri) / "manifest.json").stat().st_mtime_ns == mtime
    write_lines(src, PROSE + ["One more line."])
    changed = run_ingest(ingest_cfg(src), runtime)
    assert not changed.reused and changed.uri != first.uri
    other_config = run_ingest(ingest_cfg(src, lowercase=False), runtime)
    assert other_config.uri != changed.uri


def test_manifest_records_sources_counts_and_shards(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.txt", PROSE)
    result = run_ingest(ingest_cfg(src), runtime)
    manifest = json.loads((Path(result.uri) / "manifest.json").read_text())
    assert manifest["sources"][0]["sha256"] and manifest["sources"][0]["size"] == src.stat().st_size
    assert manifest["schema_version"] == 1 and manifest["content_hash"] == result.content_hash
    assert sum(s["rows"] for s in manifest["shards"]) == read_corpus(result.uri).num_rows


def test_large_file_is_split_into_pieces_with_correct_line_numbers(tmp_path, runtime, ingest_cfg):
    lines = [f"Line number {i} of the file." for i in range(1, 3001)]
    src = write_lines(tmp_path / "big.txt", lines)
    result = run_ingest(ingest_cfg(src, shard_mb=0.01, split_sentences=False), runtime)
    manifest = json.loads((Path(result.uri) / "manifest.json").read_text())
    table = read_corpus(result.uri)
    assert len(manifest["shards"]) > 5
    assert table.column("doc_id").to_pylist() == list(range(1, 3001))
    assert table.column("text").to_pylist()[1233] == "line number 1234 of the file."


KILL_SCRIPT = """
import sys
from seqpipe.config import IngestConfig, RuntimeConfig
from seqpipe.data.ingest import run_ingest
run_ingest(IngestConfig(sources=[sys.argv[1]], out=sys.argv[2], shard_mb=0.05),
           RuntimeConfig(executor="local", state_dir=sys.argv[3]))
"""


def test_a_killed_ingest_leaves_no_corpus_and_the_rerun_completes(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "big.txt", [PROSE[i % 4] for i in range(40_000)])
    out = tmp_path / "corpus"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(src), str(out), str(tmp_path / "s")])
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob(".tmp-corpus-*/data/part-00002.parquet")):
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(out.glob("corpus-*")) and list(out.glob(".tmp-corpus-*"))
    result = run_ingest(ingest_cfg(src, shard_mb=0.05), runtime)
    assert result.counts["documents"] == 40_000
    assert not list(out.glob(".tmp-*")), "the crashed run's temporary folder is cleaned up"
