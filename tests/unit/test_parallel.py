import bz2
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqpipe.core.errors import InputError, RejectRateExceeded
from seqpipe.tasks.translation.parallel_text import (Pair, detokenize, read_parallel, split_pairs, tokenize,
                                          write_parallel_tsv)

EN = ["The house is small.", "I like   tea .", "Where is the station?"]
DE = ["Das Haus ist klein.", "Ich mag Tee.", "Wo ist der Bahnhof?"]


def write(path, content):
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def lines(items):
    return "".join(f"{item}\n" for item in items)


def test_aligned_files_are_read_and_cleaned(tmp_path):
    source = write(tmp_path / "train.en", "\ufeff" + lines(EN).replace("\n", "\r\n"))
    with gzip.open(tmp_path / "train.de.gz", "wt", encoding="utf-8") as f:
        f.write(lines(DE))
    data = read_parallel(source, tmp_path / "train.de.gz")
    assert data.read == 3 and not data.rejects and data.files == [str(source), str(tmp_path / "train.de.gz")]
    assert [(p.source, p.target) for p in data.pairs] == [
        ("The house is small.", "Das Haus ist klein."), ("I like tea .", "Ich mag Tee."),
        ("Where is the station?", "Wo ist der Bahnhof?")]
    assert data.pairs[2].origin == str(source) and data.pairs[2].line == 3


def test_unicode_is_normalised_to_nfc_and_whitespace_collapsed(tmp_path):
    source = write(tmp_path / "a.src", "Cafe\u0301\u00a0 au\tlait \n")
    target = write(tmp_path / "a.tgt", "  Milchkaffee\u202f!\n")
    pair = read_parallel(source, target).pairs[0]
    assert pair.source == "Caf\u00e9 au lait" and pair.target == "Milchkaffee !"


def test_misaligned_files_name_both_files_and_counts(tmp_path):
    source = write(tmp_path / "train.en", lines(EN))
    target = write(tmp_path / "train.de", lines(DE[:2]))
    with pytest.raises(InputError) as err:
        read_parallel(source, target)
    message = str(err.value)
    assert "train.en has 3 lines" in message and "train.de has 2 lines" in message and "not aligned" in message


def test_lines_blank_on_both_sides_are_skipped_but_one_empty_side_is_rejected(tmp_path):
    source = write(tmp_path / "s.txt", lines(["a b", "", "c", "d"]))
    target = write(tmp_path / "t.txt", lines(["x y", "", "   ", "w"]))
    with pytest.raises(InputError, match=r"t\.txt:3: empty target \(1 of 3 pairs rejected"):
        read_parallel(source, target)
    data = read_parallel(source, target, max_reject_rate=0.5)
    assert data.read == 3 == len(data.pairs) + len(data.rejects)
    assert [p.line for p in data.pairs] == [1, 4]
    assert (data.rejects[0].origin, data.rejects[0].line, data.rejects[0].reason) == (str(target), 3, "empty target")


def test_undecodable_and_over_long_lines_are_rejected(tmp_path):
    source = write(tmp_path / "s.txt", b"fine\nbad \xff byte\n" + b"x" * 30 + b"\nok\n")
    target = write(tmp_path / "t.txt", lines(["gut", "schlecht", "lang", "ok"]))
    with pytest.raises(InputError) as err:
        read_parallel(source, target, max_chars=20)
    assert "s.txt:2: source not valid utf-8 at byte 5 of the line (0xff)" in str(err.value)
    data = read_parallel(source, target, max_chars=20, max_reject_rate=0.5)
    assert [r.line for r in data.rejects] == [2, 3] and data.read == 4 and len(data.pairs) == 2
    assert data.rejects[1].reason == "source is 30 characters, over max_chars 20"


def test_reject_rate_exceeded(tmp_path):
    source = write(tmp_path / "s.txt", lines(["a", "", "", "d"]))
    target = write(tmp_path / "t.txt", lines(["x", "y", "z", "w"]))
    with pytest.raises(RejectRateExceeded, match=r"s\.txt:2: empty source; then .*s\.txt:3: empty source "
                                                 r"\(2 of 4 pairs rejected, 50\.0% > "):
        read_parallel(source, target, max_reject_rate=0.25)
    assert len(read_parallel(source, target, max_reject_rate=0.5).pairs) == 2


def test_empty_input_and_bad_arguments(tmp_path):
    empty_a, empty_b = write(tmp_path / "a.txt", ""), write(tmp_path / "b.txt", "\n\n")
    with pytest.raises(InputError, match="not aligned"):
        read_parallel(empty_a, empty_b)
    with pytest.raises(InputError, match="no sentence pairs"):
        read_parallel(empty_b, empty_b)
    with pytest.raises(InputError, match="no sentence pairs"):
        read_parallel(table=write(tmp_path / "e.tsv", "\n"))
    with pytest.raises(InputError, match="no such file"):
        read_parallel(tmp_path / "missing.en", empty_a)
    with pytest.raises(InputError, match="not both"):
        read_parallel(empty_a, empty_b, table=empty_a)
    with pytest.raises(InputError, match="no target file given"):
        read_parallel(empty_a)
    with pytest.raises(InputError, match="unknown table format"):
        read_parallel(table=empty_a)


def test_tsv_without_and_with_header(tmp_path):
    plain = write(tmp_path / "plain.tsv", lines(f"{en}\t{de}" for en, de in zip(EN, DE)))
    data = read_parallel(table=plain)
    assert [p.target for p in data.pairs] == ["Das Haus ist klein.", "Ich mag Tee.", "Wo ist der Bahnhof?"]
    assert data.files == [str(plain)]
    header = write(tmp_path / "h.tsv", "id\tde\ten\n" + lines(f"{i}\t{de}\t{en}" for i, (en, de) in
                                                               enumerate(zip(EN, DE))))
    data = read_parallel(table=header, source_field="en", target_field="de")
    assert data.read == 3 and data.pairs[0] == Pair("The house is small.", "Das Haus ist klein.", str(header), 2)


def test_tsv_wrong_field_count_is_rejected(tmp_path):
    path = write(tmp_path / "x.tsv.bz2", bz2.compress(lines(["a\tb", "c\td\te", "", "f", "g\th"]).encode()))
    with pytest.raises(InputError, match=r"x\.tsv\.bz2:2: 3 fields, expected 2"):
        read_parallel(table=path)
    data = read_parallel(table=path, max_reject_rate=0.5)
    assert [(r.line, r.reason.split(",")[0]) for r in data.rejects] == [(2, "3 fields"), (4, "1 field")]
    assert data.read == 4 and [p.line for p in data.pairs] == [1, 5]


def test_jsonl_table(tmp_path):
    rows = [{"source": "hello", "target": "hallo", "id": 1}, [1, 2], {"source": "x"}, {"source": "y", "target": 3},
            "not json", {"source": "good  day", "target": "guten Tag"}]
    text = "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n\n"
    path = write(tmp_path / "d.jsonl", text)
    data = read_parallel(table=path, max_reject_rate=0.9)
    assert [(p.source, p.target, p.line) for p in data.pairs] == [("hello", "hallo", 1), ("good day", "guten Tag", 6)]
    assert [(r.line, r.reason) for r in data.rejects] == [
        (2, "not a JSON object (an array)"),
        (3, "no 'target' field"), (4, "field 'target' is a number, expected a string"),
        (5, data.rejects[3].reason)]
    assert data.rejects[3].reason.startswith("not valid JSON")
    assert data.read == 6
    custom = write(tmp_path / "c.jsonl", json.dumps({"en": "a", "fr": "b"}) + "\n")
    assert read_parallel(table=custom, source_field="en", target_field="fr").pairs[0].target == "b"


def test_csv_table(tmp_path):
    path = write(tmp_path / "d.csv", 'target,source\n"Hallo, Welt","Hello, world"\n"zwei\nZeilen",two lines\n'
                                     'nur eins\n')
    with pytest.raises(InputError, match=r"d\.csv:5: 1 field, expected 2"):
        read_parallel(table=path)
    data = read_parallel(table=path, max_reject_rate=0.5)
    assert [(p.source, p.target, p.line) for p in data.pairs] == [("Hello, world", "Hallo, Welt", 2),
                                                                   ("two lines", "zwei Zeilen", 3)]
    with pytest.raises(InputError, match="no 'en' column"):
        read_parallel(table=path, source_field="en")
    bad = write(tmp_path / "b.csv", b"source,target\nok,gut\nbad\xfe,x\n")
    data = read_parallel(table=bad, max_reject_rate=0.5)
    assert data.rejects[0].line == 3 and "0xfe" in data.rejects[0].reason


def test_parquet_table(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"src": ["one", None, "three"], "tgt": ["eins", "zwei", " drei "]}), path)
    data = read_parallel(table=path, source_field="src", target_field="tgt", max_reject_rate=0.5)
    assert [(p.source, p.target, p.line) for p in data.pairs] == [("one", "eins", 1), ("three", "drei", 3)]
    assert (data.rejects[0].line, data.rejects[0].reason) == (2, "empty source (null)")
    with pytest.raises(InputError, match=r"d\.parquet:2: empty source"):
        read_parallel(table=path, source_field="src", target_field="tgt")
    numbers = tmp_path / "n.parquet"
    pq.write_table(pa.table({"source": [1], "target": ["x"]}), numbers)
    with pytest.raises(InputError, match="column 'source' holds int64"):
        read_parallel(table=numbers)


def test_split_is_seeded_and_write_round_trips(tmp_path):
    pairs = [(f"s{i}", f"t{i}") for i in range(100)]
    train, dev = split_pairs(pairs, 0.1, seed=3)
    assert len(dev) == 10 and len(train) == 90 and set(train) | set(dev) == set(pairs)
    assert split_pairs(pairs, 0.1, seed=3) == (train, dev) and split_pairs(pairs, 0.1, seed=4) != (train, dev)
    assert split_pairs(pairs[:2], 0.01, seed=0)[1] and split_pairs(pairs, 0.0, seed=0) == (pairs, [])
    path = write_parallel_tsv(tmp_path / "out.tsv.gz", train)
    assert [(p.source, p.target) for p in read_parallel(table=path).pairs] == train
    with pytest.raises(ValueError, match="tabs"):
        write_parallel_tsv(tmp_path / "bad.tsv", [("a\tb", "c")])


def test_tokenize_and_detokenize():
    text = "Je n'aime pas l'été (vraiment) : « non » ! 3.5 e-mail"
    assert detokenize(tokenize(text, "char"), "char") == text
    assert tokenize("a b", "char") == ["a", " ", "b"]
    words = tokenize("Hello, world! It's a state-of-the-art (test).", "word")
    assert words == ["Hello", ",", "world", "!", "It's", "a", "state-of-the-art", "(", "test", ")", "."]
    assert detokenize(words, "word") == "Hello, world! It's a state-of-the-art (test)."
    assert tokenize("Straße über 1984-09-03", "word") == ["Straße", "über", "1984-09-03"]
    assert detokenize(["Where", "is", "it", "?"], "word") == "Where is it?"
    with pytest.raises(ValueError, match="token level"):
        tokenize("x", "subword")
