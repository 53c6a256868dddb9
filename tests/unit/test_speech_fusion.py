"""What speech fuses with and how much: the LM source a config names, weights tuned on dev that
are never worse than no LM, and dev speakers never heard in training."""
import pytest
import torch

from seqpipe.config import PipelineConfig, SpeechConfig
from seqpipe.core.errors import InputError
from seqpipe.decoding.ctc import prefix_beam_search
from seqpipe.models.char_ngram import CharNgramLM
from seqpipe.tasks.speech.data import hold_out_speakers
from seqpipe.tasks.speech.fusion import NGRAM_FILE, fit_ngram, fusion_source, load_fusion_lm, tune_weights
from seqpipe.tasks.speech.manifest import Utterance
from seqpipe.tasks.speech.task import labels_to_text

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
WORDS = ["yes", "no", "up", "down", "left", "right", "seven", "six"]


def emissions_for(text: str, confusion: dict[str, str], peak: float = 0.55) -> torch.Tensor:
    """Frames that spell `text`, each letter sharing its mass with a confusable one, blanks between."""
    frames = []
    for char in text:
        row = torch.full((len(ALPHABET) + 1,), 1e-4)
        row[ALPHABET.index(char) + 1] = peak
        if char in confusion:
            row[ALPHABET.index(confusion[char]) + 1] = 1 - peak
        frames += [row, torch.eye(len(ALPHABET) + 1)[0] * 0.999 + 1e-4]
    return torch.log(torch.stack(frames) / torch.stack(frames).sum(-1, keepdim=True))


def test_fusion_with_the_transcript_lm_fixes_a_confusion_and_tuning_picks_it():
    lm = CharNgramLM.fit(WORDS, ALPHABET, 6)
    confused = emissions_for("seven", {"v": "f"}, peak=0.45)  # acoustically "sefen" is (slightly) likelier
    plain = labels_to_text(prefix_beam_search(confused, 8, beta=0.0)[0][0], ALPHABET)
    fused = labels_to_text(prefix_beam_search(confused, 8, lm=lm, alpha=0.5, beta=0.0)[0][0], ALPHABET)
    assert (plain, fused) == ("sefen", "seven")
    alpha, beta = tune_weights(lm, [confused], ["seven"], ALPHABET, SpeechConfig(beam=8))
    assert alpha > 0


def test_tuning_keeps_no_lm_when_the_lm_only_hurts():
    misleading = CharNgramLM.fit(["sefen"] * 50, ALPHABET, 6)  # a LM of the wrong text
    clear = emissions_for("seven", {"v": "f"}, peak=0.6)
    assert tune_weights(misleading, [clear], ["seven"], ALPHABET, SpeechConfig(beam=8)) == (0.0, 0.0)


def test_the_source_is_the_given_folder_else_the_config(tmp_path):
    assert fusion_source(SpeechConfig(), None) == "transcripts"
    assert fusion_source(SpeechConfig(), "lm-folder") == "lm-folder"
    assert fusion_source(SpeechConfig(fusion_lm="auto"), None) is None, "auto: the pipeline's corpus LM, if any"
    assert fusion_source(SpeechConfig(fusion_lm=None), None) is None
    with pytest.raises(InputError, match="missing.txt does not exist"):
        fusion_source(SpeechConfig(fusion_lm=str(tmp_path / "missing.txt")), None)


def test_the_ngram_is_fitted_to_the_transcripts_or_a_text_file(tmp_path):
    (tmp_path / "a").mkdir()
    fit_ngram(tmp_path / "a", SpeechConfig(), "transcripts", ["seven", "six"])
    lm = load_fusion_lm(tmp_path / "a", "transcripts", ALPHABET)
    assert lm.sentence_log_prob("seven") > lm.sentence_log_prob("nevens")
    text = tmp_path / "text.txt"
    text.write_text("Turn LEFT now\nturn right\n", encoding="utf-8")
    (tmp_path / "b").mkdir()
    fit_ngram(tmp_path / "b", SpeechConfig(lm_order=3), str(text), ["seven"])
    lm = CharNgramLM.load(tmp_path / "b" / NGRAM_FILE)
    assert lm.order == 3 and lm.counts["tu"] == {"r": 2}, "normalised like transcripts: lowercase"
    (tmp_path / "c").mkdir()
    fit_ngram(tmp_path / "c", SpeechConfig(), None, ["seven"])
    assert load_fusion_lm(tmp_path / "c", None, ALPHABET) is None


def test_the_pipeline_trains_a_corpus_lm_for_speech_only_with_auto():
    from flows.pipeline import fusion_lm, stage_runs

    default = PipelineConfig()
    assert [name for name, _, _ in stage_runs("lm", default, ["speech"])] == []
    assert fusion_lm(default, {"lm-char": {"uri": "x"}}) is None
    auto = PipelineConfig.model_validate({"speech": {"fusion_lm": "auto"}})
    assert [name for name, _, _ in stage_runs("lm", auto, ["speech"])] == ["lm-char"]
    assert fusion_lm(auto, {"lm-char": {"uri": "x"}}) == "x"


def utterances(counts: dict[str, int]) -> list[Utterance]:
    return [Utterance(f"/a/{s}{i}.wav", "yes", s, None, "m.csv", i) for s, n in counts.items() for i in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_dev_holds_out_whole_speakers(seed):
    data = utterances({f"s{k}": 3 + k % 4 for k in range(20)})
    train, dev = hold_out_speakers(data, 0.1, seed)
    assert not {u.speaker for u in train} & {u.speaker for u in dev}
    assert sorted(train + dev, key=data.index) == data and train == [u for u in data if u in train]
    assert 0.1 * len(data) <= len(dev) < 0.1 * len(data) + 7
    assert hold_out_speakers(data, 0.1, seed) == (train, dev), "seeded"


def test_without_speakers_or_with_one_it_holds_out_utterances():
    for data in (utterances({"": 30}), utterances({"only": 30})):
        train, dev = hold_out_speakers(data, 0.1, 0)
        assert len(dev) == 3 and len(train) == 27
