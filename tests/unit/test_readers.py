"""Every source format and compression, read through the ingest stage (local executor)."""
import bz2
import gzip
import json
import lzma

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from seqpipe.core.errors import InputError
from seqpipe.data.ingest import read_corpus, run_ingest
from tests.conftest import PROSE, write_lines


def texts_of(result):
    return read_corpus(result.uri, ["text"]).column("text").to_pylist()


def test_txt_lines_sentences_and_tokens(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.txt", PROSE[:2])
    table = read_corpus(run_ingest(ingest_cfg(src), runtime).uri)
    assert table.column("doc_id").to_pylist() == [1, 1, 2, 2]
    assert table.column("sent_id").to_pylist() == [0, 1, 0, 1]
    assert table.column("text").to_pylist()[0] == "the quick brown fox jumps over the lazy dog."
    assert table.column("tokens").to_pylist()[1] == ["it", "was", "not", "amused", "!"]


def test_txt_whole_file_is_one_document(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.txt", PROSE)
    table = read_corpus(run_ingest(ingest_cfg(src, txt_unit="file", split_sentences=False), runtime).uri)
    assert table.num_rows == 1 and table.column("doc_id").to_pylist() == [1]


@pytest.mark.parametrize("suffix,compress", [
    (".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress),
    (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_compressed_text_reads_like_plain(tmp_path, runtime, ingest_cfg, suffix, compress):
    plain = write_lines(tmp_path / "plain.txt", PROSE)
    packed = tmp_path / f"packed.txt{suffix}"
    packed.write_bytes(compress(plain.read_bytes()))
    assert texts_of(run_ingest(ingest_cfg(packed, out=str(tmp_path / "c1")), runtime)) == \
        texts_of(run_ingest(ingest_cfg(plain, out=str(tmp_path / "c2")), runtime))


def test_jsonl_with_nested_field(tmp_path, runtime, ingest_cfg):
    src = write_lines(tmp_path / "a.jsonl", [json.dumps({"doc": {"body": p}}) for p in PROSE])
    assert len(texts_of(run_ingest(ingest_cfg(src, text_field="doc.body", split_sentences=False), runtime))) == 4


def test_json_array(tmp_path, runtime, ingest_cfg):
    src = tmp_path / "a.json"
    src.write_text(json.dumps([{"text": p} for p in PROSE]))
    table = read_corpus(run_ingest(ingest_cfg(src, split_sentences=False), runtime).uri)
    assert table.column("doc_id").to_pylist() == [1, 2, 3, 4]


def test_csv_with_quoted_multiline_field_and_tsv(tmp_path, runtime, ingest_cfg):
    csv_src = tmp_path / "a.csv"
    csv_src.write_text('id,body\n1,"Hello, world."\n2,"Two\nlines here."\n3,plain text\n')
    tsv_src = write_lines(tmp_path / "b.tsv", ["id\tbody", "1\tTab separated text.", '2\tA "quote" inside.'])
    result = run_ingest(ingest_cfg(csv_src, tsv_src, text_field="body", split_sentences=False), runtime)
    table = read_corpus(result.uri)
    assert table.column("text").to_pylist() == [
        "hello, world.", "two lines here.", "plain text", "tab separated text.", 'a "quote" inside.']
    assert table.column("doc_id").to_pylist() == [2, 3, 5, 2, 3]  # the line where each record starts


def test_parquet_source(tmp_path, runtime, ingest_cfg):
    src = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": PROSE + [None], "n": list(range(5))}), src)
    result = run_ingest(ingest_cfg(src, split_sentences=False, max_reject_rate=0.5), runtime)
    assert result.counts["documents"] == 4 and result.counts["rejected"] == 1


def test_hf_saved_dataset_and_load_dataset_from_local_files(tmp_path, runtime, ingest_cfg):
    import datasets

    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": PROSE}).save_to_disk(str(saved))
    folder = tmp_path / "hub_like"
    write_lines(folder / "train.jsonl", [json.dumps({"text": p}) for p in PROSE[:2]])
    r1 = run_ingest(ingest_cfg(saved, split_sentences=False), runtime)
    r2 = run_ingest(ingest_cfg(f"hf:{folder}", split_sentences=False, out=str(tmp_path / "c2")), runtime)
    assert r1.counts["documents"] == 4 and r2.counts["documents"] == 2


def test_fsspec_uri_source(tmp_path, runtime, ingest_cfg):
    with fsspec.open("memory://bucket/corpus/a.txt", "wb") as f:
        f.write("\n".join(PROSE).encode())
    result = run_ingest(ingest_cfg("memory://bucket/corpus/*.txt", split_sentences=False), runtime)
    assert result.counts["documents"] == 4


def test_folder_glob_and_skipped_files(tmp_path, runtime, ingest_cfg):
    write_lines(tmp_path / "in" / "a.txt", PROSE[:1])
    write_lines(tmp_path / "in" / "sub" / "b.txt", PROSE[1:2])
    (tmp_path / "in" / "image.png").write_bytes(b"\x89PNG")
    result = run_ingest(ingest_cfg(tmp_path / "in", split_sentences=False), runtime)
    manifest = json.loads((tmp_path / "corpus" / result.uri.split("/")[-1] / "manifest.json").read_text())
    assert result.counts["documents"] == 2
    assert [s["uri"].split("/")[-1] for s in manifest["sources"]] == ["a.txt", "b.txt"]
    assert manifest["skipped_files"][0].endswith("image.png")


def test_missing_source_and_missing_column_are_clear_errors(tmp_path, runtime, ingest_cfg):
    with pytest.raises(InputError, match="no input matches"):
        run_ingest(ingest_cfg(tmp_path / "nope.txt"), runtime)
    src = tmp_path / "a.csv"
    src.write_text("id,body\n1,x\n")
    with pytest.raises(InputError, match=r"a.csv: no column 'text' \(columns: id, body\)"):
        run_ingest(ingest_cfg(src), runtime)
