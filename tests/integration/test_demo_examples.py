"""The demo as a new user meets it: `make pipeline` with the shipped config on a fresh state
folder, then the README's examples and one more of each kind, so the test checks the
ability and not the sentence. About 8 minutes on 2 cores: marked slow (CI runs it)."""
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    state = tmp_path_factory.mktemp("demo") / "state"
    out = subprocess.run([*SEQPIPE, "pipeline", "--config", str(ROOT / "conf/pipeline.yaml"),
                          "--set", f"runtime.state_dir={state}"], capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    assert len(out.stdout.splitlines()) <= 40, out.stdout
    return state


def seqpipe(state: Path, *args: str) -> str:
    out = subprocess.run([*SEQPIPE, *args, "--set", f"runtime.state_dir={state}"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def answers(output: str) -> list[str]:
    return [line.split()[-1] for line in output.splitlines() if line.strip()]


@pytest.mark.parametrize("question, answer", [("man woman king", "queen"), ("france french germany", "german")])
def test_analogies(demo, question, answer):
    assert answer in answers(seqpipe(demo, "analogy", *question.split(), "-k", "5"))


def test_similar_words(demo):
    royal = {"king", "prince", "princess", "empress", "emperor", "duke", "lord", "monarch", "throne", "consort", "tsar"}
    assert royal & set(answers(seqpipe(demo, "similar", "queen", "-k", "5")))


def log_prob(state: Path, sentence: str) -> float:
    return float(seqpipe(state, "score", sentence).splitlines()[0].split("\t")[0])


def test_the_language_model_prefers_word_order_it_has_read(demo):
    assert log_prob(demo, "The president addressed the nation.") > log_prob(demo, "Nation the addressed president the.")


@pytest.mark.parametrize("right, homophone", [("The apple and pear salad", "The apple and pair salad"),
                                               ("Add the flour and stir.", "Add the flower and stir.")])
def test_the_language_model_tells_homophones_apart_by_their_context(demo, right, homophone):
    assert log_prob(demo, right) > log_prob(demo, homophone)


def test_samples_read_as_english(demo):
    """Word salad shares few word pairs with real text; the samples must share many with the corpus."""
    corpus = next((demo / "corpus").glob("corpus-*"))
    pairs = Counter()
    for tokens in pq.read_table(corpus / "data", columns=["tokens"]).column("tokens").to_pylist()[:400_000]:
        pairs.update(zip(tokens, tokens[1:]))
    sampled = [line.split() for line in seqpipe(demo, "sample", "-n", "20").splitlines() if line.strip()]
    seen = [pair in pairs for tokens in sampled for pair in zip(tokens, tokens[1:])]
    assert len(seen) >= 40 and sum(seen) / len(seen) >= 0.6, sampled


@pytest.mark.parametrize("text, persons", [("Yesterday, Harry Potter met Hermione Granger.", {"Harry Potter", "Hermione Granger"}),
                                           ("Elizabeth Bennet danced with Fitzwilliam Darcy in Meryton.",
                                            {"Elizabeth Bennet", "Fitzwilliam Darcy"})])
def test_unseen_two_word_names_are_tagged_as_persons(demo, text, persons):
    found = {tuple(line.split("\t")[:2]) for line in seqpipe(demo, "tag", text).splitlines() if "\t" in line}
    assert {("PER", p) for p in persons} <= found, found


def test_speech_demo_reaches_its_character_error_rate(demo):
    import json

    speech = next((demo / "speech").glob("speech-*"))
    assert json.loads((speech / "metrics.json").read_text())["cer"] <= 0.25


@pytest.mark.parametrize("text, label", [("There's nothing to like in this movie", "negative"),
                                         ("The plot was not bad at all.", "positive"),
                                         ("I expected a charming story but it was painfully dull", "negative"),
                                         ("Honestly, I did not think the ending was boring.", "positive")])
def test_the_classifier_reads_negation_and_contrast(demo, text, label):
    assert seqpipe(demo, "classify", text).split("\t")[0] == label
