import pytest

from seqpipe.tasks.ner.schemes import (TagError, allowed_transitions, detect_scheme, entity_types, spans, to_bioes,
                                 to_iob2)

IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "O"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O"]
BIOES = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG", "O"]


def test_detects_each_scheme():
    assert detect_scheme([IOB1]) == "iob1"
    assert detect_scheme([IOB2]) == "iob2"
    assert detect_scheme([BIOES]) == "bioes"
    assert detect_scheme([["B-PER", "L-PER", "U-LOC"]]) == "bioes"
    assert detect_scheme([["O", "O"], []]) == "iob2"


def test_iob1_after_o_or_another_type_means_iob1():
    assert detect_scheme([["O", "B-PER", "I-PER"], ["B-LOC", "I-ORG"]]) == "iob1"
    assert detect_scheme([["O", "B-PER", "I-PER"], ["O", "I-MISC"]]) == "iob1"


def test_conll2003_iob1_converts_to_iob2_and_bioes():
    assert to_iob2(IOB1, "iob1") == IOB2
    assert to_bioes(IOB1, "iob1") == BIOES
    assert to_iob2(["B-LOC", "I-LOC", "I-LOC"], "iob1") == ["B-LOC", "I-LOC", "I-LOC"]


def test_round_trips():
    assert to_iob2(to_bioes(IOB2, "iob2"), "bioes") == IOB2
    assert to_bioes(to_iob2(BIOES, "bioes"), "iob2") == BIOES
    assert to_bioes(BIOES, "bioes") == BIOES
    assert to_iob2(IOB2, "iob2") == IOB2


def test_bilou_is_read_as_bioes():
    assert to_bioes(["U-PER", "O", "B-LOC", "I-LOC", "L-LOC"], "bioes") == ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]


@pytest.mark.parametrize("tags, scheme, message", [
    (["O", "O", "I-PER"], "iob2", "I-PER at token 3 continues no entity"),
    (["B-LOC", "I-PER"], "iob2", "I-PER at token 2 continues no entity"),
    (["S-PER"], "iob2", "S-PER at token 1 is not an iob2 tag"),
    (["O", "E-PER"], "bioes", "E-PER at token 2 ends no entity"),
    (["I-PER", "E-PER"], "bioes", "I-PER at token 1 continues no entity"),
    (["B-PER", "O"], "bioes", "B-PER at token 1 is not closed by E-PER"),
    (["B-PER", "I-PER"], "bioes", "I-PER at token 2 is not closed by E-PER"),
    (["B-PER", "E-LOC"], "bioes", "B-PER at token 1 is not closed by E-PER"),
    (["O", "B_PER"], "iob2", "'B_PER' at token 2 is an unknown tag"),
    (["X-PER"], "iob1", "'X-PER' at token 1 is an unknown tag"),
    (["E-PER"], "iob1", "E-PER at token 1 is not an iob1 tag"),
])
def test_invalid_sequences_raise_with_the_token(tags, scheme, message):
    with pytest.raises(ValueError, match=message) as err:
        to_bioes(tags, scheme)
    assert isinstance(err.value, TagError)


def test_spans_and_types():
    assert spans(IOB2) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 6)]
    assert spans(BIOES) == spans(IOB2) == spans(IOB1)
    assert entity_types(IOB2 + ["B-MISC"]) == ["LOC", "MISC", "ORG", "PER"]


def test_allowed_transitions_under_bioes():
    tags = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "E-LOC"]
    start, trans, end = allowed_transitions(tags)
    index = {tag: i for i, tag in enumerate(tags)}

    def allowed(a, b):
        return trans[index[a]][index[b]]

    assert start == [True, True, False, False, True, True, False]
    assert end == [True, False, False, True, True, False, True]
    assert not allowed("O", "I-PER") and not allowed("O", "E-PER")
    assert not allowed("B-PER", "O") and not allowed("B-PER", "E-LOC") and not allowed("B-PER", "B-PER")
    assert allowed("B-PER", "I-PER") and allowed("B-PER", "E-PER") and allowed("I-PER", "E-PER")
    assert allowed("E-PER", "B-LOC") and allowed("S-PER", "S-PER") and allowed("E-LOC", "O")
    assert not allowed("S-PER", "I-PER")


def test_allowed_transitions_under_iob2():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start, trans, end = allowed_transitions(tags, scheme="iob2")
    assert start == [True, True, False, True, False]
    assert end == [True] * 5
    assert trans[0] == [True, True, False, True, False]        # O -> I-X forbidden
    assert trans[1] == [True, True, True, True, False]         # B-PER -> I-LOC forbidden
    assert trans[4] == [True, True, False, True, True]


def test_allowed_transitions_agree_with_the_converter():
    """Every converted sequence only uses allowed transitions."""
    tags = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG") for p in "BIES"]
    start, trans, end = allowed_transitions(tags)
    index = {tag: i for i, tag in enumerate(tags)}
    for sequence in (to_bioes(IOB1, "iob1"), to_bioes(["B-LOC", "I-LOC", "B-PER", "O", "I-PER"], "iob1")):
        ids = [index[t] for t in sequence]
        assert start[ids[0]] and end[ids[-1]]
        assert all(trans[a][b] for a, b in zip(ids, ids[1:]))
