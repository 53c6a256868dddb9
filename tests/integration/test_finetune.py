"""Downstream training on real Ray Train: NER and the language model, divergence, kill and resume."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqpipe.config import EncoderConfig, LmConfig, RuntimeConfig, TrainConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.ner.demo import build_ner_demo
from tests.conftest import kill_after_first_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ner_files(tmp_path_factory):
    folder = build_ner_demo(tmp_path_factory.mktemp("ner"), sentences=300, seed=3)
    return {"train_path": str(folder / "train.txt"), "dev_path": str(folder / "dev.txt"),
            "test_path": str(folder / "test.txt")}


RUN_NER = """
import json, sys
from seqpipe.config import EncoderConfig, NerConfig, RuntimeConfig, TrainConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.ner import stage
cfg = NerConfig(**json.loads(sys.argv[1]), out=sys.argv[2], encoder=EncoderConfig(hidden=32),
                train=TrainConfig(epochs=6, patience=None, batch_size=8, lr=0.01))
print(stage.run(cfg, StageInputs(), RuntimeConfig(state_dir=sys.argv[3], num_cpus=2)).uri)
"""


def test_a_killed_ner_run_resumes_from_its_last_checkpoint_and_tags_text(ner_files, tmp_path):
    args = ["-c", RUN_NER, json.dumps(ner_files), str(tmp_path / "ner"), str(tmp_path / "state")]
    killed_at = kill_after_first_checkpoint(args, tmp_path / "state" / "ray_results", "ner")
    assert not list((tmp_path / "ner").glob("ner-*")), "the killed run published no model"

    second = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stderr[-3000:]
    folder = Path(second.stdout.strip().splitlines()[-1])
    metrics = json.loads((folder / "metrics.json").read_text())
    done = killed_at["history"]
    assert metrics["epochs"] == 6 and len(metrics["history"]) == 6, "no epoch counted twice"
    assert 1 <= len(done) < 6 and metrics["history"][:len(done)] == done, "finished epochs were not retrained"
    assert metrics["test_f1"] > 0.3 and 0 <= metrics["dev_f1"] <= 1
    assert {"f1_PER", "f1_LOC", "f1_ORG"} <= {k[5:] for k in metrics if k.startswith("test_")}

    from seqpipe.cli import app

    out = CliRunner().invoke(app, ["tag", "--model", str(folder), "Yesterday, Harry Potter met Hermione Granger in London."])
    assert out.exit_code == 0, out.output
    assert all(line.split("\t")[0] in {"PER", "LOC", "ORG", "MISC"} for line in out.stdout.splitlines() if "\t" in line)


def test_lm_trains_on_two_workers_and_samples(corpus_and_vocab, ray_session, tmp_path):
    from seqpipe.tasks.lm.predictor import LanguageModelFolder
    from seqpipe.tasks.lm import stage as lm_stage

    corpus, vocab, _ = corpus_and_vocab
    cfg = LmConfig(out=str(tmp_path / "lm"), dev_sentences=100, max_len=16,
                   encoder=EncoderConfig(hidden=32, layers=1, bidirectional=False),
                   train=TrainConfig(epochs=2, batch_size=32, lr=5e-3, num_workers=2))
    result = lm_stage.run(cfg, StageInputs(corpus=corpus, vocab=vocab), RuntimeConfig(state_dir=str(tmp_path / "state")))
    m = result.metrics
    assert m["dev_perplexity"] < m["unigram_perplexity"], m
    assert m["epochs"] == 2 and len(json.loads((Path(result.uri) / "metrics.json").read_text())["samples"]) == 5
    lm = LanguageModelFolder(result.uri)
    assert all(isinstance(s, str) for s in lm.sample(3, temperature=0.7, seed=1))
    assert np.isfinite(lm.score("the quick brown fox")["log_prob"])
    assert lm_stage.run(cfg, StageInputs(corpus=corpus, vocab=vocab), RuntimeConfig(state_dir=str(tmp_path / "state"))).reused

    # built outside a pipeline step, never registered: the first step that reuses it registers and gates it
    from flows.step import run_step
    from seqpipe.config import PromotionConfig

    runtime = RuntimeConfig(state_dir=str(tmp_path / "state"))
    first = run_step("lm", cfg, StageInputs(corpus=corpus, vocab=vocab), runtime, PromotionConfig())
    assert first.result.reused and first.version is not None and first.decision["promoted"]
    again = run_step("lm", cfg, StageInputs(corpus=corpus, vocab=vocab), runtime, PromotionConfig())
    assert again.result.reused and again.version is None, "registered once"


def test_a_diverging_run_stops_with_a_clear_error(ray_session, tmp_path):
    """The loss turns NaN at step 5 of epoch 0 on both workers: fit stops there, no retries."""
    from seqpipe.training.loop import TrainingDiverged, fit

    cfg = TrainConfig(epochs=3, batch_size=4, num_workers=2)
    with pytest.raises(TrainingDiverged, match=r"diverged: loss is nan at epoch 0 step 4"):
        fit("tests.integration.diverging_task:build_task", {}, cfg, RuntimeConfig(state_dir=str(tmp_path)),
            "diverging", mode="min")


def test_an_epoch_task_whose_loss_turns_infinite_on_one_worker_stops_every_worker(ray_session, tmp_path):
    """GloVe on more workers than it holds went on for every epoch with an infinite loss and published
    vectors of zeros: now the workers stop together after the epoch and the stage fails."""
    from seqpipe.config import EmbeddingsConfig
    from seqpipe.training.loop import TrainingDiverged, fit

    with pytest.raises(TrainingDiverged, match=r"diverged: the loss of 1 worker\(s\) is not finite \(epoch 2\)"):
        fit("tests.integration.diverging_task:build_epoch_task", {}, EmbeddingsConfig(epochs=5, num_workers=2),
            RuntimeConfig(state_dir=str(tmp_path)), "diverging-epochs", mode="last", arrays=["w"])


def test_translation_trains_then_translates_and_analyses_from_the_command_line(ray_session, tmp_path):
    from seqpipe.cli import app
    from seqpipe.config import ParallelFiles, TranslationConfig
    from seqpipe.tasks.translation.demo import build_date_demo
    from seqpipe.tasks.translation import stage as translation_stage

    dates = build_date_demo(tmp_path / "dates", pairs=300)
    cfg = TranslationConfig(train_data=ParallelFiles(table=str(dates / "train.tsv")), level="char",
                            encoder=EncoderConfig(cell="gru", hidden=16), sweep=False, analysis_sentences=20,
                            attention_plots=2, out=str(tmp_path / "tr"), train=TrainConfig(epochs=1, num_workers=1))
    result = translation_stage.run(cfg, StageInputs(), RuntimeConfig(state_dir=str(tmp_path / "state")))
    folder = Path(result.uri)
    assert len(list((folder / "plots").glob("attention-*.png"))) == 2
    m = result.metrics
    assert m["beam_errors"] == m["beam_search_errors"] + m["beam_model_errors"] <= m["beam_sentences"] <= 20

    out = CliRunner().invoke(app, ["translate", "--model", str(folder), "--beam", "3", "1 mars 2021", "May 2, 1999"])
    assert out.exit_code == 0, out.output
    assert out.stdout.count("\n") == 2, "one line per input, even when a translation is empty"
    out = CliRunner().invoke(app, ["analyze-beam", "--model", str(folder)])
    assert out.exit_code == 0 and "search at fault" in out.stdout, out.output


def test_misaligned_parallel_files_stop_the_stage_with_a_clear_error(tmp_path):
    from seqpipe.cli import app

    (tmp_path / "train.fr").write_text("un\ndeux\ntrois\n")
    (tmp_path / "train.en").write_text("one\ntwo\n")
    out = CliRunner().invoke(app, ["finetune", "translation", "--source", str(tmp_path / "train.fr"),
                                   "--target", str(tmp_path / "train.en"), "--set", f"runtime.state_dir={tmp_path}"])
    assert out.exit_code == 1
    assert "train.fr has 3 lines" in out.output and "train.en has 2 lines" in out.output
    assert list((tmp_path / "logs").glob("finetune-translation-*.log")), "finetune writes the libraries' output to a log"


def test_speech_trains_on_ray_and_decodes_with_a_character_lm(corpus_and_vocab, ray_session, tmp_path):
    from seqpipe.cli import app
    from seqpipe.config import DemoConfig, SpeechConfig
    from seqpipe.tasks.lm import stage as lm_stage
    from seqpipe.tasks.speech import stage as speech_stage

    corpus, vocab, _ = corpus_and_vocab
    runtime = RuntimeConfig(state_dir=str(tmp_path / "state"))
    char_lm = lm_stage.run(LmConfig(level="char", out=str(tmp_path / "lm"), dev_sentences=50, max_sentences=500,
                              encoder=EncoderConfig(hidden=32, layers=1, bidirectional=False),
                              train=TrainConfig(epochs=1, num_workers=1)), StageInputs(corpus=corpus, vocab=vocab), runtime)
    cfg = speech_stage.with_demo_data(SpeechConfig(out=str(tmp_path / "asr"), n_mels=40, beam=4, beam_utterances=5,
                                      encoder=EncoderConfig(cell="gru", hidden=32, layers=1),
                                      train=TrainConfig(epochs=1, num_workers=2, batch_size=8)),
                         str(tmp_path / "demo"), DemoConfig(speech_utterances=40))
    result = speech_stage.run(cfg, StageInputs(lm=char_lm.uri), runtime)
    m = result.metrics
    for name in ("greedy", "beam", "beam_lm"):
        assert 0 <= m[f"cer_{name}"] and m[f"rtf_{name}"] > 0
    assert m["train_frames_per_s"] > 0 and m["test_utterances"] > 0
    wav = next((tmp_path / "demo").rglob("test-*.wav"))
    out = CliRunner().invoke(app, ["transcribe", "--model", result.uri, str(wav), "--beam", "4", "--lm", char_lm.uri])
    assert out.exit_code == 0 and out.stdout.startswith(str(wav)), out.output
