"""Entity tag schemes: detect IOB1 / IOB2 / BIOES, convert between them, list spans.

A tag is "O" or "<prefix>-<TYPE>" with prefix B, I, E or S (BILOU's L and U are read
as E and S). IOB1 (CoNLL-2003) starts an entity with I- and uses B- only between two
adjacent entities of the same type; IOB2 starts every entity with B-; BIOES also marks
the last token (E-) and single-token entities (S-).

IOB1 is read leniently. IOB2 and BIOES are strict: a sequence that breaks their
grammar raises `TagError` (a `ValueError`) naming the tag and its 1-based token
position, e.g. "I-PER at token 3 continues no entity".
"""
from __future__ import annotations

SCHEMES = ("iob1", "iob2", "bioes")
TARGETS = ("iob2", "bioes")
UNKNOWN_TAG = "is an unknown tag (expected O, or B-, I-, E-, S-, L-, U- and a type)"
_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}

Span = tuple[str, int, int]  # (type, start, end_exclusive)


class TagError(ValueError):
    """A tag that does not parse, or breaks the grammar of its scheme."""

    def __init__(self, tag: str, index: int, problem: str):
        self.tag, self.index, self.problem = tag, index, problem
        super().__init__(f"{tag} at token {index + 1} {problem}")


def parse_tag(tag: str) -> tuple[str, str] | None:
    """("B"|"I"|"E"|"S", TYPE) for an entity tag, None for "O"; ValueError if unknown."""
    if tag == "O":
        return None
    prefix, dash, entity_type = tag.partition("-")
    if not dash or prefix not in _PREFIXES or not entity_type or any(c.isspace() for c in entity_type):
        raise ValueError(f"unknown tag {tag!r}")
    return _PREFIXES[prefix], entity_type


def is_tag(tag: str) -> bool:
    try:
        parse_tag(tag)
    except ValueError:
        return False
    return True


def _parse_all(tags: list[str]) -> list[tuple[str, str] | None]:
    parsed = []
    for index, tag in enumerate(tags):
        try:
            parsed.append(parse_tag(tag))
        except ValueError:
            raise TagError(repr(tag), index, UNKNOWN_TAG)
    return parsed


def detect_scheme(sentences_tags: list[list[str]]) -> str:
    """"bioes" if any E/S/L/U tag, else "iob1" if any I-X starts an entity, else "iob2".

    Unknown tags are ignored here (they count as O); conversion reports them.
    """
    starts_with_i = False
    for tags in sentences_tags:
        previous = None
        for tag in tags:
            parsed = parse_tag(tag) if is_tag(tag) else None
            if parsed and parsed[0] in ("E", "S"):
                return "bioes"
            if parsed and parsed[0] == "I" and (previous is None or previous[1] != parsed[1]):
                starts_with_i = True
            previous = parsed
    return "iob1" if starts_with_i else "iob2"


def spans(tags: list[str]) -> list[Span]:
    """Entities as (type, start, end_exclusive), read leniently from IOB1, IOB2 or BIOES tags."""
    return _spans_iob1(tags, _parse_all(tags), allow_end_marks=True)


def _spans_iob1(tags: list[str], parsed: list, allow_end_marks: bool = False) -> list[Span]:
    """I-X continues an entity of type X if one is open, else starts one; B-X always starts one."""
    out: list[Span] = []
    open_type, start = None, 0
    for index, item in enumerate(parsed + [None]):
        prefix, entity_type = item if item else (None, None)
        if prefix in ("E", "S") and not allow_end_marks:
            raise TagError(tags[index], index, "is not an iob1 tag")
        continues = prefix in ("I", "E") and entity_type == open_type
        if open_type is not None and not continues:
            out.append((open_type, start, index))
            open_type = None
        if item and not continues:
            open_type, start = entity_type, index
        if prefix in ("E", "S"):
            out.append((open_type, start, index + 1))
            open_type = None
    return out


def _spans_iob2(tags: list[str], parsed: list) -> list[Span]:
    for index, item in enumerate(parsed):
        if item and item[0] in ("E", "S"):
            raise TagError(tags[index], index, "is not an iob2 tag")
        if item and item[0] == "I":
            previous = parsed[index - 1] if index else None
            if previous is None or previous[1] != item[1]:
                raise TagError(tags[index], index, "continues no entity")
    return _spans_iob1(tags, parsed)


def _spans_bioes(tags: list[str], parsed: list) -> list[Span]:
    out: list[Span] = []
    open_type, start = None, 0
    for index, item in enumerate(parsed):
        prefix, entity_type = item if item else ("O", None)
        if open_type is not None and (prefix not in ("I", "E") or entity_type != open_type):
            raise TagError(tags[index - 1], index - 1, f"is not closed by E-{open_type}")
        if open_type is None and prefix in ("I", "E"):
            raise TagError(tags[index], index, "continues no entity" if prefix == "I" else "ends no entity")
        if prefix == "B":
            open_type, start = entity_type, index
        elif prefix == "S":
            out.append((entity_type, index, index + 1))
        elif prefix == "E":
            out.append((open_type, start, index + 1))
            open_type = None
    if open_type is not None:
        raise TagError(tags[-1], len(tags) - 1, f"is not closed by E-{open_type}")
    return out


def to_spans(tags: list[str], scheme: str) -> list[Span]:
    """Entities of a sentence tagged in `scheme`, checking the grammar of strict schemes."""
    parsed = _parse_all(tags)
    if scheme == "iob1":
        return _spans_iob1(tags, parsed)
    if scheme == "iob2":
        return _spans_iob2(tags, parsed)
    if scheme == "bioes":
        return _spans_bioes(tags, parsed)
    raise ValueError(f"unknown tag scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")


def from_spans(entities: list[Span], length: int, target: str) -> list[str]:
    """Tags of a sentence of `length` tokens holding `entities`, in "iob2" or "bioes"."""
    if target not in TARGETS:
        raise ValueError(f"unknown target scheme {target!r} (expected one of {', '.join(TARGETS)})")
    tags = ["O"] * length
    for entity_type, start, end in entities:
        for index in range(start, end):
            tags[index] = f"I-{entity_type}"
        tags[start] = f"B-{entity_type}"
        if target == "bioes":
            tags[end - 1] = f"E-{entity_type}" if end - start > 1 else f"S-{entity_type}"
    return tags


def to_iob2(tags: list[str], scheme: str) -> list[str]:
    return from_spans(to_spans(tags, scheme), len(tags), "iob2")


def to_bioes(tags: list[str], scheme: str) -> list[str]:
    return from_spans(to_spans(tags, scheme), len(tags), "bioes")


def entity_types(tags: list[str]) -> list[str]:
    """The sorted entity types named by `tags` (a sentence's tags or a label set)."""
    return sorted({parsed[1] for parsed in _parse_all(list(tags)) if parsed})


def allowed_transitions(tags: list[str], scheme: str = "bioes") -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Which tag may start a sentence, follow each tag, and end a sentence under `scheme`.

    Returns (start_allowed[j], trans_allowed[i][j] for tag i followed by tag j,
    end_allowed[i]) as plain lists, in the order of `tags`; for constraining a CRF.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")
    parsed = [parse_tag(tag) for tag in tags]
    start = [_may_follow(None, item, scheme) for item in parsed]
    trans = [[_may_follow(before, after, scheme) for after in parsed] for before in parsed]
    end = [_may_end(item, scheme) for item in parsed]
    return start, trans, end


def _may_follow(before: tuple[str, str] | None, after: tuple[str, str] | None, scheme: str) -> bool:
    """May tag `after` follow tag `before` (None before = sentence start, None after = O)?"""
    open_type = before[1] if before and before[0] in ("B", "I") else None
    if scheme == "bioes":
        if after is None or after[0] in ("B", "S"):
            return open_type is None
        return after[0] in ("I", "E") and after[1] == open_type
    if after is not None and after[0] in ("E", "S"):
        return False
    if before is not None and before[0] in ("E", "S"):
        return False
    if scheme == "iob2":
        return after is None or after[0] == "B" or after[1] == open_type
    return after is None or after[0] == "I" or after[1] == open_type  # iob1: B-X only right after X


def _may_end(item: tuple[str, str] | None, scheme: str) -> bool:
    if scheme == "bioes":
        return item is None or item[0] in ("E", "S")
    return item is None or item[0] in ("B", "I")
