import bz2
import gzip

import pytest

from seqpipe.core.errors import InputError, RejectRateExceeded
from seqpipe.tasks.ner.conll import Sentence, read_conll, write_conll

IOB1_FILE = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP I-LOC
Smith NNP B-NP I-PER
Jones NNP B-NP B-PER
"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_conll2003_iob1_is_detected_and_converted(tmp_path):
    data = read_conll(write(tmp_path, "train.txt", IOB1_FILE))
    assert data.scheme == "iob1" and data.read == 3 and not data.rejects
    first = data.sentences[0]
    assert first.tokens == ["EU", "rejects", "German", "call", "."]
    assert first.tags == ["S-ORG", "O", "S-MISC", "O", "O"] and first.line == 3
    assert data.sentences[1].tags == ["B-PER", "E-PER"] and data.sentences[1].line == 9
    assert data.sentences[2].tags == ["S-LOC", "S-PER", "S-PER"]
    assert read_conll(tmp_path / "train.txt", target="iob2").sentences[2].tags == ["B-LOC", "B-PER", "B-PER"]


@pytest.mark.parametrize("tags, scheme", [
    (["B-PER", "I-PER", "O", "B-LOC"], "iob2"),
    (["B-PER", "E-PER", "O", "S-LOC"], "bioes"),
    (["B-PER", "L-PER", "O", "U-LOC"], "bioes"),
    (["I-PER", "I-PER", "O", "I-LOC"], "iob1"),
])
def test_every_scheme_is_read(tmp_path, tags, scheme):
    text = "".join(f"w{i}\t{tag}\n" for i, tag in enumerate(tags))
    data = read_conll(write(tmp_path, "a.conll", text))
    assert data.scheme == scheme
    assert data.sentences[0].tags == ["B-PER", "E-PER", "O", "S-LOC"]
    assert read_conll(tmp_path / "a.conll", target="iob2").sentences[0].tags == ["B-PER", "I-PER", "O", "B-LOC"]


def test_comments_crlf_bom_and_missing_final_newline(tmp_path):
    text = "\ufeff# sent_id = 1\r\n# text = Hello Paris\r\nHello O  \r\nParis B-LOC\r\n\r\n\r\n# O\r\nx O"
    data = read_conll(write(tmp_path, "a.conllu", text))
    assert [s.tokens for s in data.sentences] == [["Hello", "Paris"], ["#", "x"]]
    assert data.sentences[0].line == 3 and data.sentences[1].line == 7
    assert data.sentences[0].tags == ["O", "S-LOC"]


def test_columns_are_chosen_by_index(tmp_path):
    path = write(tmp_path, "a.tsv", "1\tParis\tNNP\tB-LOC\n2\tis\tVBZ\tO\n")
    data = read_conll(path, token_column=1, tag_column=3, target="iob2")
    assert data.sentences[0].tokens == ["Paris", "is"] and data.sentences[0].tags == ["B-LOC", "O"]


BROKEN = [
    ("a b O\nc O\n", 2, "line 2 has 2 columns, expected 3"),
    ("Hello O\nthere O\n\nI O\nsaw O\nBob I-PER\n", 6, "I-PER at token 3 continues no entity"),
    ("Hello O\n\nBob B_PER\n", 3, "'B_PER' at token 1 is an unknown tag"),
    ("Hello O\n\nBob O\nM\xfcller B-PER\n", 4, "not valid utf-8 at byte 2 of line 4"),
    ("a\nb\n", 1, "line 1 has 1 column, expected at least 2"),
]


@pytest.mark.parametrize("text, line, reason", BROKEN)
def test_broken_input_names_file_and_line(tmp_path, text, line, reason):
    path = write(tmp_path, "bad.txt", text.encode("latin-1") if "\xfc" in text else text.encode())
    with pytest.raises(InputError) as err:
        read_conll(path, scheme="iob2" if "I-PER" in text else "auto")
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and reason in message
    assert "set ner.max_reject_rate" in message or "all" in message


def test_auto_detection_reads_a_stray_i_as_iob1_but_strict_iob2_rejects_it(tmp_path):
    path = write(tmp_path, "a.txt", "Bob I-PER\nsaid O\n\nAnn B-PER\nLee I-PER\n")
    assert read_conll(path).sentences[0].tags == ["S-PER", "O"]
    with pytest.raises(InputError, match=r"a.txt:1: I-PER at token 1 continues no entity"):
        read_conll(path, scheme="iob2")


def test_rejects_are_counted_and_skipped_within_the_rate(tmp_path):
    good = "".join(f"w{i} O\nParis B-LOC\n\n" for i in range(8))
    path = write(tmp_path, "a.txt", good + "x y O\n\nBob I-PER\n\nAnn B-XYZ\n")
    data = read_conll(path, scheme="iob2", max_reject_rate=0.5, labels=["PER", "LOC"])
    assert data.read == 11 == len(data.sentences) + len(data.rejects)
    assert [(r.line, r.reason) for r in data.rejects] == [
        (25, "line 25 has 3 columns, expected 2"),
        (27, "I-PER at token 1 continues no entity (read as iob2)"),
        (29, "B-XYZ has type XYZ, which is not in the labels (LOC, PER)"),
    ]
    assert data.rejects[0].text == "x y O" and data.rejects[0].source == str(path)


def test_reject_rate_exceeded_names_the_first_rejects(tmp_path):
    path = write(tmp_path, "a.txt", "a O\n\nb I-PER\n\nc I-LOC\n\nd O\n")
    with pytest.raises(RejectRateExceeded) as err:
        read_conll(path, scheme="iob2", max_reject_rate=0.25)
    assert str(err.value).startswith(f"{path}:3: I-PER at token 1")
    assert f"{path}:5:" in str(err.value) and "2 of 4 sentences rejected" in str(err.value)


def test_folder_list_and_compressed_input(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder, "b.txt", "Bonn B-LOC\n")
    write(folder, "a.txt", "Ann B-PER\n")
    (folder / "c.txt.gz").write_bytes(gzip.compress(b"Rome B-LOC\n"))
    (folder / "d.txt.bz2").write_bytes(bz2.compress(b"Oslo B-LOC\n"))
    data = read_conll(folder)
    assert [s.tokens[0] for s in data.sentences] == ["Ann", "Bonn", "Rome", "Oslo"]
    assert len(data.files) == 4
    assert len(read_conll([folder / "a.txt", folder / "b.txt"]).sentences) == 2


def test_missing_and_empty_input(tmp_path):
    with pytest.raises(InputError, match="nope.txt: no such file"):
        read_conll(tmp_path / "nope.txt")
    empty = write(tmp_path, "empty.txt", "-DOCSTART- O\n\n\n")
    with pytest.raises(InputError, match="empty.txt: no sentences"):
        read_conll(empty)


def test_write_then_read_round_trip(tmp_path):
    sentences = [(["Jean-Pierre", "visited", "Zürich", "."], ["B-PER", "O", "B-LOC", "O"]),
                 Sentence(["Hi"], ["O"], "x", 1)]
    path = write_conll(tmp_path / "out.txt", sentences)
    assert path.read_text(encoding="utf-8") == "Jean-Pierre B-PER\nvisited O\nZürich B-LOC\n. O\n\nHi O\n\n"
    data = read_conll(path, target="iob2")
    assert [(s.tokens, s.tags) for s in data.sentences] == [sentences[0], (["Hi"], ["O"])]
    with pytest.raises(ValueError, match="whitespace"):
        write_conll(tmp_path / "bad.txt", [(["a b"], ["O"])])
