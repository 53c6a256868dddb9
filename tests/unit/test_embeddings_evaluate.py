import numpy as np
import pytest
from scipy.stats import spearmanr

from seqpipe.tasks.embeddings.evaluate import (analogy, analogy_scores, evaluate_analogies, evaluate_similarity,
                                         load_analogies, load_similarity, nearest, unit_rows)
from seqpipe.data.word2vec_format import load_word2vec, save_word2vec
from seqpipe.core.errors import InputError

# Axes: 0 male, 1 female, 2 royal, 3 verb, 4 past, 5 walk, 6 swim, 7 talk, 8 fruit, 9 noise.
WORDS = {
    "man": {0: 1}, "woman": {1: 1}, "king": {0: 1, 2: 1}, "queen": {1: 1, 2: 1, 9: 0.2},
    "prince": {0: 1, 2: 0.8, 9: 0.3}, "apple": {8: 1},
    "walk": {3: 1, 5: 1}, "walked": {3: 1, 4: 1, 5: 1}, "swim": {3: 1, 6: 1}, "swam": {3: 1, 4: 1, 6: 1},
    "talk": {3: 1, 7: 1}, "talked": {3: 1, 4: 1, 7: 1},
}
SECTIONS = """\
: family
man woman king queen
man king woman queen

king queen man woman
man woman king prince
man woman uncle aunt
: gram7-past-tense
walk walked swim swam
walk walked talk talked
swim swam walk apple
"""


def hand_built(words=WORDS):
    tokens = list(words)
    vectors = np.zeros((len(tokens), 10), dtype=np.float32)
    for i, axes in enumerate(words.values()):
        vectors[i, list(axes)] = list(axes.values())
    return tokens, vectors


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- analogies

@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_answer_known_by_construction(method):
    tokens, vectors = hand_built()
    result = evaluate_analogies(tokens, vectors, [("family", "man", "woman", "king", "queen")], method=method)
    assert (result["correct"], result["used"], result["accuracy"], result["method"]) == (1, 1, 1.0, method)
    assert analogy(tokens, vectors, "man", "woman", "king", k=1, method=method)[0][0] == "queen"
    assert analogy(tokens, vectors, "walk", "walked", "swim", k=1, method=method)[0][0] == "swam"


def test_oov_question_lowers_coverage_not_accuracy():
    tokens, vectors = hand_built()
    questions = [("s", "man", "woman", "king", "queen"), ("s", "man", "woman", "uncle", "aunt")]
    result = evaluate_analogies(tokens, vectors, questions)
    assert (result["correct"], result["used"], result["total"]) == (1, 1, 2)
    assert result["accuracy"] == 1.0 and result["coverage"] == 0.5


def test_question_words_are_lowercased_unless_asked_not_to():
    tokens, vectors = hand_built()
    questions = [("s", "Man", "WOMAN", "King", "Queen")]
    assert evaluate_analogies(tokens, vectors, questions)["correct"] == 1
    assert evaluate_analogies(tokens, vectors, questions, lowercase=False)["used"] == 0


def test_case_is_folded_on_both_sides_as_gensim_does():
    """A capitalised vocabulary answers lowercase questions (and the reverse), a folded word
    stands for its most frequent case, and an answer of another case counts as right."""
    capitals = {"Athens": {0: 1, 2: 1}, "Greece": {0: 1, 3: 1}, "Berlin": {1: 1, 2: 1}, "Germany": {1: 1, 3: 1}}
    tokens, vectors = hand_built(capitals)
    for question in [("s", "athens", "greece", "berlin", "germany"), ("s", "Athens", "GREECE", "Berlin", "Germany")]:
        result = evaluate_analogies(tokens, vectors, [question])
        assert (result["correct"], result["used"]) == (1, 1), question
    assert evaluate_analogies(tokens, vectors, [("s", "athens", "greece", "berlin", "germany")],
                              lowercase=False)["used"] == 0
    # "queen" is frequent noise, "Queen" the royal woman: gensim's answer QUEEN is right
    words = dict(WORDS, queen={9: 1}, Queen={1: 1, 2: 1})
    tokens, vectors = hand_built(words)
    result = evaluate_analogies(tokens, vectors, [("s", "man", "woman", "king", "queen")])
    assert (result["correct"], result["used"]) == (1, 1)
    assert evaluate_analogies(tokens, vectors, [("s", "man", "woman", "king", "queen")], lowercase=False)["correct"] == 0


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_another_case_of_a_question_word_is_never_the_answer(method):
    words = {"big": {0: 1}, "bigger": {0: 1, 1: 0.1}, "small": {2: 1}, "smaller": {2: 1, 1: 0.1, 3: 0.3},
             "Small": {2: 1}}
    tokens, vectors = hand_built(words)
    question = [("s", "big", "bigger", "small", "smaller")]
    assert evaluate_analogies(tokens, vectors, question, lowercase=False, method=method)["correct"] == 0, \
        "case-sensitive, Small is another word and the best answer"
    assert evaluate_analogies(tokens, vectors, question, method=method)["correct"] == 1


def test_similarity_folds_the_vocabulary_too():
    tokens, vectors = hand_built({"Man": {0: 1}, "King": {0: 1, 2: 1}, "Woman": {1: 1, 2: 0.1}, "man": {9: 1}})
    pairs = [("man", "king", 8.0), ("king", "woman", 3.0), ("man", "woman", 2.0)]
    result = evaluate_similarity(tokens, vectors, pairs)
    assert (result["used"], result["spearman"]) == (3, pytest.approx(1.0)), "man is Man, the most frequent case"
    assert evaluate_similarity(tokens, vectors, pairs, lowercase=False)["used"] == 0


def test_top_n_restricts_the_search_space():
    words = dict(WORDS, regina={1: 1, 2: 1})  # a better answer than queen, but the least frequent token
    tokens, vectors = hand_built(words)
    question = [("s", "man", "woman", "king", "queen")]
    assert evaluate_analogies(tokens, vectors, question, top_n=None)["correct"] == 0, "regina wins when searched"
    assert evaluate_analogies(tokens, vectors, question, top_n=len(tokens) - 1)["correct"] == 1
    beyond = evaluate_analogies(tokens, vectors, [("s", "man", "woman", "king", "regina")], top_n=len(tokens) - 1)
    assert (beyond["used"], beyond["coverage"]) == (0, 0.0)


def test_sections_and_semantic_syntactic_accuracy(tmp_path):
    tokens, vectors = hand_built()
    questions = load_analogies(write(tmp_path, "q.txt", SECTIONS))
    assert questions[0] == ("family", "man", "woman", "king", "queen") and len(questions) == 8
    result = evaluate_analogies(tokens, vectors, questions, batch_size=2)
    assert result["sections"] == {
        "family": {"correct": 3, "used": 4, "total": 5, "accuracy": 0.75},
        "gram7-past-tense": {"correct": 2, "used": 3, "total": 3, "accuracy": pytest.approx(2 / 3)},
    }
    assert (result["correct"], result["used"], result["total"]) == (5, 7, 8)
    assert result["accuracy"] == pytest.approx(5 / 7) and result["coverage"] == pytest.approx(7 / 8)
    assert result["semantic_accuracy"] == 0.75 and result["syntactic_accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_question_words_are_never_the_answer(method):
    tokens, vectors = hand_built()
    ids = np.array([tokens.index("man"), tokens.index("woman"), tokens.index("man")])
    raw = analogy_scores(unit_rows(vectors), ids[:1], ids[1:2], ids[2:], method)[0]
    assert tokens[int(raw.argmax())] == "woman", "without the exclusion b itself would win"
    result = evaluate_analogies(tokens, vectors, [("s", "man", "woman", "man", "woman")], method=method)
    assert (result["correct"], result["used"]) == (0, 1)
    ranked = [word for word, _ in analogy(tokens, vectors, "man", "woman", "man", k=100, method=method)]
    assert len(ranked) == len(tokens) - 2 and not {"man", "woman"} & set(ranked)


def naive_prediction(unit, a, b, c, method):
    """Per-candidate loop over the same formula, in float64: (best id, margin to the runner-up)."""
    scores = []
    for x in range(len(unit)):
        if x in (a, b, c):
            continue
        ca, cb, cc = (float(np.dot(unit[x], unit[i])) for i in (a, b, c))
        if method == "3cosadd":
            scores.append((cb - ca + cc, x))
        else:
            scores.append(((cb + 1) / 2 * (cc + 1) / 2 / ((ca + 1) / 2 + 1e-3), x))
    scores.sort(reverse=True)
    return scores[0][1], scores[0][0] - scores[1][0]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_batched_predictions_match_a_naive_loop(method):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    tokens = [f"w{i}" for i in range(50)]
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    questions, expected = [], 0
    for q in range(30):
        a, b, c = rng.choice(50, size=3, replace=False)
        best, margin = naive_prediction(unit, a, b, c, method)
        assert margin > 1e-5, "the fixture must not depend on float rounding"
        d = best if q % 2 == 0 else int(rng.integers(50))
        expected += d == best
        questions.append(("s", tokens[a], tokens[b], tokens[c], tokens[d]))
    assert 15 <= expected < 30
    result = evaluate_analogies(tokens, vectors, questions, method=method, batch_size=7)
    assert (result["correct"], result["used"]) == (expected, 30)


def test_unknown_method_and_word_are_reported():
    tokens, vectors = hand_built()
    with pytest.raises(ValueError, match="3cosfoo"):
        evaluate_analogies(tokens, vectors, [], method="3cosfoo")
    with pytest.raises(KeyError, match="'xyz' is not in the vocabulary"):
        analogy(tokens, vectors, "man", "xyz", "king")
    with pytest.raises(KeyError, match="'xyz' is not in the vocabulary"):
        nearest(tokens, vectors, "xyz")


def test_empty_question_list():
    tokens, vectors = hand_built()
    result = evaluate_analogies(tokens, vectors, [])
    assert result["accuracy"] == result["coverage"] == result["semantic_accuracy"] == 0.0
    assert result["sections"] == {} and result["total"] == 0


def test_nearest_ranks_by_cosine_without_the_word_itself():
    tokens, vectors = hand_built()
    result = nearest(tokens, vectors, "man", k=3)
    unit = unit_rows(vectors)
    cosines = {t: float(unit[tokens.index("man")] @ unit[i]) for i, t in enumerate(tokens) if t != "man"}
    best = sorted(cosines, key=lambda t: -cosines[t])[:3]
    assert [w for w, _ in result] == best and best[0] == "prince"
    assert [s for _, s in result] == pytest.approx([cosines[t] for t in best])
    assert len(nearest(tokens, vectors, "man", k=100)) == len(tokens) - 1


def test_unit_rows_leaves_zero_rows_zero():
    unit = unit_rows(np.array([[3, 4], [0, 0]], dtype=np.float32))
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0, 0]])


def test_load_analogies_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.txt", ": s\na b c d\n\na b c\n")
    with pytest.raises(InputError, match=rf"{path}:4: expected 4 words"):
        load_analogies(path)


# ---------------------------------------------------------------- similarity

SIMILARITY = """\
# WordSim-353 style, tab separated
Word 1\tWord 2\tHuman (mean)
w0\tw1\t7.5
W2\tw3\t3.25
w4\tw5\t9
w0\tw3\t1.0
w6\tw7\t4.5
w1\tw8\t6
w2\tw9\t2
w5\tw6\t8.5
w1\tzzz\t5
"""


def test_similarity_spearman_equals_scipy_and_oov_lowers_coverage(tmp_path):
    rng = np.random.default_rng(1)
    vectors = (rng.normal(size=(10, 6)) * rng.uniform(0.1, 10, size=(10, 1))).astype(np.float32)
    tokens = [f"w{i}" for i in range(10)]
    pairs = load_similarity(write(tmp_path, "ws.tab", SIMILARITY))
    assert pairs[1] == ("W2", "w3", 3.25) and len(pairs) == 9
    known = [(tokens.index(a.lower()), tokens.index(b), s) for a, b, s in pairs if b != "zzz"]
    cosines = [vectors[i] @ vectors[j] / np.linalg.norm(vectors[i]) / np.linalg.norm(vectors[j]) for i, j, _ in known]
    expected = spearmanr([s for _, _, s in known], cosines)[0]
    result = evaluate_similarity(tokens, vectors, pairs)
    assert result["spearman"] == pytest.approx(expected, abs=1e-9)
    assert (result["used"], result["total"], result["coverage"]) == (8, 9, pytest.approx(8 / 9))
    assert evaluate_similarity(tokens, vectors, pairs, lowercase=False)["used"] == 7


def test_similarity_with_fewer_than_three_pairs_is_zero():
    tokens, vectors = hand_built()
    result = evaluate_similarity(tokens, vectors, [("man", "king", 5.0), ("man", "woman", 3.0), ("x", "y", 1.0)])
    assert (result["spearman"], result["used"], result["total"]) == (0.0, 2, 3)


def test_load_similarity_simlex_columns_and_errors(tmp_path):
    simlex = write(tmp_path, "simlex.txt", "word1 word2 POS SimLex999 conc(w1)\nold new A 1.58 2.72\nsmart intelligent A 9.2 1.75\n")
    assert load_similarity(simlex) == [("old", "new", 1.58), ("smart", "intelligent", 9.2)]
    short = write(tmp_path, "short.txt", "# c\nw1 w2 score\na b 1\nc d\n")
    with pytest.raises(InputError, match=rf"{short}:4: expected `word1 word2 score`"):
        load_similarity(short)
    no_score = write(tmp_path, "noscore.txt", "a b 1\nc d high\n")
    with pytest.raises(InputError, match=rf"{no_score}:2:"):
        load_similarity(no_score)


# ---------------------------------------------------------------- export

TOKENS = ["the", "café", "naïve", "x", "日本"]


def random_vectors(rows=len(TOKENS), dim=7):
    vectors = np.random.default_rng(2).normal(size=(rows, dim)).astype(np.float32)
    vectors[0, 0], vectors[1, 1] = 1e-8, 3.4e38
    return vectors


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_round_trip(tmp_path, binary):
    vectors = random_vectors()
    path = tmp_path / "out" / "vectors.bin"
    save_word2vec(path, TOKENS, vectors, binary=binary)
    tokens, loaded = load_word2vec(path, binary=binary)
    assert tokens == TOKENS and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, vectors, rtol=1e-7, atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["vectors.bin"], "no temporary file left behind"


def test_binary_file_size(tmp_path):
    vectors = random_vectors()
    path = tmp_path / "v.bin"
    save_word2vec(path, TOKENS, vectors, binary=True)
    header = len(f"{len(TOKENS)} 7\n")
    assert path.stat().st_size == header + sum(len(t.encode()) + 1 + 4 * 7 + 1 for t in TOKENS)


def test_gensim_reads_both_formats(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    vectors = random_vectors()
    for binary in (False, True):
        path = tmp_path / f"v-{binary}"
        save_word2vec(path, TOKENS, vectors, binary=binary)
        kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert list(kv.index_to_key) == TOKENS
        np.testing.assert_allclose(kv.vectors, vectors, rtol=1e-7, atol=1e-6)
        kv.save_word2vec_format(str(path), binary=binary)  # gensim's binary writer omits the b"\n"
        tokens, loaded = load_word2vec(path, binary=binary)
        assert tokens == TOKENS
        np.testing.assert_allclose(loaded, vectors, rtol=1e-7, atol=1e-6)


def test_token_with_a_space_is_refused(tmp_path):
    path = tmp_path / "v.txt"
    with pytest.raises(ValueError, match="'new york'"):
        save_word2vec(path, ["a", "new york"], np.zeros((2, 3), np.float32))
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_load_word2vec_errors_name_file_and_line(tmp_path):
    bad_count = write(tmp_path, "count.txt", "2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(InputError, match=rf"{bad_count}:3: expected a word and 3 values"):
        load_word2vec(bad_count)
    bad_value = write(tmp_path, "value.txt", "1 2\na 1 x\n")
    with pytest.raises(InputError, match=rf"{bad_value}:2: a value is not a number"):
        load_word2vec(bad_value)
    bad_header = write(tmp_path, "header.txt", "three 3\na 1 2 3\n")
    with pytest.raises(InputError, match=rf"{bad_header}:1: expected a header"):
        load_word2vec(bad_header)
    missing = write(tmp_path, "missing.txt", "3 1\na 1\nb 2\n")
    with pytest.raises(InputError, match=rf"{missing}:3: the header announces 3 vectors"):
        load_word2vec(missing)
    truncated = tmp_path / "t.bin"
    save_word2vec(truncated, TOKENS, random_vectors(), binary=True)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(InputError, match=rf"{truncated}:{len(TOKENS) + 1}: truncated"):
        load_word2vec(truncated, binary=True)
