"""Incremental ingestion: only new or changed sources are read, and the corpus is the one a full ingest writes."""
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seqpipe.data import ingest, sources
from seqpipe.config import VocabConfig
from seqpipe.data.ingest import read_corpus, run_ingest
from seqpipe.data.vocab import run_vocab
from tests.conftest import PROSE, write_lines

ROW_KEY = ["source", "doc_id", "sent_id"]
SMALL = {"shard_mb": 0.01, "row_group_rows": 50, "max_reject_rate": 1.0}  # many pieces, shards and row groups


def write_sources(folder: Path, changed: bool = False) -> dict[str, Path]:
    """a.txt (changed when `changed`), big.txt (split into pieces, with rejects), c.jsonl, d.csv."""
    big = [PROSE[i % 4] if i % 97 else (b"\xff bad" if i % 2 else "") for i in range(1, 1500)]
    files = {
        "a": write_lines(folder / "a.txt", PROSE + (["A changed line. With two sentences!"] if changed else [])),
        "big": write_lines(folder / "big.txt", big),
        "c": write_lines(folder / "c.jsonl", ['{"text": "Json one. Json two."}', '{"text": ', '{"text": "fine"}']),
        "d": folder / "d.csv",
    }
    files["d"].write_text('id,text\n1,Comma row one\n2,too,many\n3,Comma row three\n')
    return files


def rows(uri: str) -> list[tuple]:
    table = read_corpus(uri).drop_columns(["source_id"])
    return sorted(tuple(json.dumps(v) for v in r.values()) for r in table.to_pylist())


def manifest(uri: str) -> dict:
    return json.loads((Path(uri) / "manifest.json").read_text())


def read_sources(monkeypatch) -> list[str]:
    """The sources the ingest actually reads (spied on ingest.read_piece)."""
    seen, real = [], ingest.read_piece

    def spy(source, piece, cfg):
        seen.append(Path(source.uri).name)
        return real(source, piece, cfg)

    monkeypatch.setattr(ingest, "read_piece", spy)
    return seen


def test_incremental_ingest_reads_only_changed_sources_and_equals_a_full_ingest(tmp_path, runtime, ingest_cfg,
                                                                               monkeypatch):
    src = write_sources(tmp_path / "src")
    gone = write_lines(tmp_path / "src" / "e.txt", ["Removed later."])
    first = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    gone.unlink()
    write_sources(tmp_path / "src", changed=True)
    write_lines(tmp_path / "src" / "new.txt", ["A new file. It arrived tonight."])

    seen = read_sources(monkeypatch)
    incremental = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    assert sorted(set(seen)) == ["a.txt", "new.txt"], "unchanged sources are not read"
    seen.clear()
    full = run_ingest(ingest_cfg(tmp_path / "src", out=str(tmp_path / "full"), **SMALL), runtime)
    assert len(set(seen)) == 5 and not incremental.reused and incremental.uri != first.uri

    inc, ful = manifest(incremental.uri), manifest(full.uri)
    assert incremental.content_hash == full.content_hash and incremental.input_hash == full.input_hash
    assert rows(incremental.uri) == rows(full.uri)
    assert inc["counts"] == ful["counts"] and inc["reject_reasons"] == ful["reject_reasons"]
    assert len(inc["shards"]) > 5 and inc["shards"] == ful["shards"]
    for kind in ("data", "rejects", "counts"):  # the same shards, byte for byte
        for part in sorted((Path(full.uri) / kind).iterdir()):
            assert (Path(incremental.uri) / kind / part.name).read_bytes() == part.read_bytes(), f"{kind}/{part.name}"
    strip = ("ingest", "reused_from")
    assert [{k: v for k, v in s.items() if k not in strip} for s in inc["sources"]] == \
        [{k: v for k, v in s.items() if k not in strip} for s in ful["sources"]]
    assert src["big"].stat().st_size > 3 * 10_000, "big.txt is read in several pieces"

    name = Path(first.uri).name
    assert inc["incremental"] == {"read_sources": 2, "reused_sources": 3, "reused_from": name}
    assert {Path(s["uri"]).name: (s["ingest"], s.get("reused_from")) for s in inc["sources"]} == {
        "a.txt": ("read", None), "new.txt": ("read", None), "big.txt": ("reused", name),
        "c.jsonl": ("reused", name), "d.csv": ("reused", name)}
    assert ful["incremental"] == {"read_sources": 5, "reused_sources": 0, "reused_from": None}
    assert all(s["sha256"] for s in inc["sources"])

    vocabs = [run_vocab(VocabConfig(min_count=1, out=str(tmp_path / f"vocab{i}")), c.uri, runtime)
              for i, c in enumerate((incremental, full))]
    for table in ("vocab.parquet", "chars.parquet"):
        assert pq.read_table(Path(vocabs[0].uri) / table).equals(pq.read_table(Path(vocabs[1].uri) / table))
    assert vocabs[0].stats["tokens"] == vocabs[1].stats["tokens"]


def test_a_nightly_ingest_links_the_unchanged_shards_instead_of_rewriting_them(tmp_path, runtime, ingest_cfg,
                                                                              monkeypatch):
    src = write_sources(tmp_path / "src")
    first = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    write_lines(tmp_path / "src" / "zz-new.txt", ["A new file. It arrived tonight."])
    seen = read_sources(monkeypatch)
    nightly = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    assert seen == ["zz-new.txt"]
    full = run_ingest(ingest_cfg(tmp_path / "src", out=str(tmp_path / "full"), **SMALL), runtime)
    assert nightly.content_hash == full.content_hash

    earlier = {shard["key"]: Path(shard["path"]).name for shard in manifest(first.uri)["shards"]}
    shards = manifest(nightly.uri)["shards"]
    unchanged = [shard for shard in shards if shard["key"] in earlier]
    assert len(shards) > 5 and len(unchanged) >= len(shards) - 1, "only the shard that takes the new file is new"
    for shard in unchanged:
        name = Path(shard["path"]).name
        for kind in ("data", "rejects", "counts"):
            linked, old = Path(nightly.uri) / kind / name, Path(first.uri) / kind / earlier[shard["key"]]
            assert linked.stat().st_ino == old.stat().st_ino, f"{kind}/{name} was rewritten"
            assert linked.read_bytes() == (Path(full.uri) / kind / name).read_bytes()

    src["c"].write_text('{"text": "Changed json."}\n')  # a change in the middle: big.txt's shards stay
    changed = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    before = {shard["key"] for shard in manifest(nightly.uri)["shards"]}
    big = [s for s in manifest(changed.uri)["shards"] if s["sources"] == [1, 1]]
    assert len(big) > 2 and all(shard["key"] in before for shard in big)


def test_unchanged_files_are_not_hashed_again_and_a_rewritten_one_is(tmp_path, runtime, ingest_cfg, monkeypatch):
    src = write_sources(tmp_path / "src")
    first = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    hashed, real = [], sources._fingerprint
    monkeypatch.setattr(sources, "_fingerprint", lambda source, *a: hashed.append(Path(source.uri).name) or real(source, *a))
    assert run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime).uri == first.uri and hashed == []
    text = src["a"].read_text()
    src["a"].write_text(text.replace("a", "b", 1))  # same size, new content: its modification time tells
    second = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    assert hashed == ["a.txt"] and second.uri != first.uri
    recorded = {Path(s["uri"]).name: s for s in manifest(second.uri)["sources"]}
    assert len(recorded["big.txt"]["pieces"]) > 3, "a split file's pieces are recorded with it"


def test_a_chain_of_incremental_ingests_stays_equal_to_a_full_ingest(tmp_path, runtime, ingest_cfg, monkeypatch):
    src = write_sources(tmp_path / "src")
    run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    write_sources(tmp_path / "src", changed=True)
    second = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    src["c"].write_text('{"text": "Changed json."}\n')
    seen = read_sources(monkeypatch)
    third = run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    assert set(seen) == {"c.jsonl"}
    assert manifest(third.uri)["incremental"]["reused_from"] == Path(second.uri).name
    full = run_ingest(ingest_cfg(tmp_path / "src", out=str(tmp_path / "full"), **SMALL), runtime)
    assert third.content_hash == full.content_hash and rows(third.uri) == rows(full.uri)
    assert manifest(third.uri)["counts"] == manifest(full.uri)["counts"]


def test_a_different_output_config_or_incremental_off_reads_everything(tmp_path, runtime, ingest_cfg, monkeypatch):
    write_sources(tmp_path / "src")
    run_ingest(ingest_cfg(tmp_path / "src", **SMALL), runtime)
    seen = read_sources(monkeypatch)
    other = run_ingest(ingest_cfg(tmp_path / "src", lowercase=False, **SMALL), runtime)
    assert len(set(seen)) == 4 and manifest(other.uri)["incremental"]["reused_sources"] == 0
    write_sources(tmp_path / "src", changed=True)
    seen.clear()
    off = run_ingest(ingest_cfg(tmp_path / "src", incremental=False, **SMALL), runtime)
    assert len(set(seen)) == 4 and manifest(off.uri)["incremental"]["reused_from"] is None


def test_the_incremental_knob_does_not_change_the_corpus_hash(tmp_path, runtime, ingest_cfg):
    write_sources(tmp_path / "src")
    off = run_ingest(ingest_cfg(tmp_path / "src", incremental=False), runtime)
    on = run_ingest(ingest_cfg(tmp_path / "src"), runtime)
    assert on.reused and on.uri == off.uri


def test_the_reject_rate_counts_reused_rejects(tmp_path, runtime, ingest_cfg):
    bad = write_lines(tmp_path / "src" / "bad.txt", [b"\xff"] * 5 + [PROSE[0]] * 5)
    write_lines(tmp_path / "src" / "good.txt", PROSE)
    run_ingest(ingest_cfg(tmp_path / "src", max_reject_rate=1.0), runtime)
    write_lines(tmp_path / "src" / "good.txt", PROSE[:2])
    from seqpipe.core.errors import RejectRateExceeded
    with pytest.raises(RejectRateExceeded):
        run_ingest(ingest_cfg(tmp_path / "src", max_reject_rate=0.2), runtime)
    failed = next((tmp_path / "corpus").glob("failed-corpus-*"))
    assert pq.read_table(failed / "rejects").num_rows == 5 and bad.exists()
