"""The demo corpus: general English from the packages of the `demo` extra, or the installed
packages' docstrings; sized, and with a manifest that says where every file came from."""
import importlib.metadata as md
import json

import pytest

from seqpipe.core.errors import InputError
from seqpipe.data import demo_corpus
from seqpipe.data.demo_corpus import ENGLISH, build_demo_corpus


def english_installed() -> bool:
    try:
        return all(md.distribution(e["distribution"]) for e in ENGLISH)
    except md.PackageNotFoundError:
        return False


@pytest.mark.skipif(not english_installed(), reason="the `demo` extra is not installed")
def test_english_demo_takes_each_package_s_share_and_records_where_it_came_from(tmp_path):
    folder = build_demo_corpus(tmp_path, max_mb=0.5)
    assert folder.name.startswith("english-") and build_demo_corpus(tmp_path, max_mb=0.5) == folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["corpus"] == "english" and len(manifest["sources"]) == len(ENGLISH)
    total = 0
    for source in manifest["sources"]:
        text = (folder / f"{source['distribution']}-{source['version']}.txt").read_text()
        assert source["licence"] and source["files"] and len(text.encode()) == source["bytes"]
        assert len(text.splitlines()) == source["paragraphs"] and "" not in text.splitlines()
        total += source["bytes"]
    assert 0.5 * 2**20 <= total < 0.6 * 2**20
    assert manifest["sources"][0]["files"][0] > manifest["sources"][0]["files"][-1], "newest speeches first"


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
    assert demo_corpus._paragraphs(tmp_path / "recipes.json", "recipes") == [
        "Pear Pie", "4 fresh pears, 1 cup sugar", "Peel the pears. Bake for 40 minutes."]
