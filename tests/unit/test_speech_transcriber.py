"""The transcriber decodes with the settings its model was trained with, not hard-coded ones."""
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from seqpipe.core.artifacts import write_json
from seqpipe.config import EncoderConfig, SpeechConfig
from seqpipe.models.acoustic import AcousticModel
from seqpipe.tasks.speech import predictor as transcriber_module
from seqpipe.tasks.speech.data import model_spec
from seqpipe.tasks.speech.task import build_model
from seqpipe.tasks.speech.predictor import Transcriber


def speech_folder(path, **decoding):
    """An untrained model folder as the stage writes it (model.json, model.pt, manifest.json)."""
    cfg = SpeechConfig(n_mels=8, conv_layers=1, conv_channels=2, encoder=EncoderConfig(cell="gru", hidden=4), **decoding)
    path.mkdir()
    write_json(path / "model.json", model_spec(cfg))
    model = build_model(path)
    assert isinstance(model, AcousticModel)
    torch.save(model.state_dict(), path / "model.pt")
    write_json(path / "manifest.json", {"kind": "speech", "config": cfg.model_dump(mode="json")})
    return path


@pytest.fixture
def decoder_calls(monkeypatch):
    """What the transcriber passes to prefix beam search (the LM folder is not loaded)."""
    calls = []

    def search(log_probs, beam, lm=None, alpha=None, beta=None, prune=None):
        calls.append({"beam": beam, "alpha": alpha, "beta": beta, "prune": prune})
        return [([1], 0.0)]

    monkeypatch.setattr(transcriber_module, "prefix_beam_search", search)
    monkeypatch.setattr(transcriber_module, "RecurrentCharLM", lambda folder, alphabet: object())
    return calls


@pytest.fixture
def wav(tmp_path):
    t = np.arange(8000) / 16000
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return tmp_path / "a.wav"


def test_beam_search_uses_the_models_own_settings(tmp_path, wav, decoder_calls):
    settings = [{"lm_alpha": 0.9, "lm_beta": 2.5, "beam_prune": -3.0}, {"lm_alpha": 0.1, "lm_beta": -1.0, "beam_prune": -8.0}]
    for i, trained in enumerate(settings):
        Transcriber(speech_folder(tmp_path / f"m{i}", **trained)).transcribe(wav, beam=4, lm="lm-folder")
    assert decoder_calls == [{"beam": 4, "alpha": 0.9, "beta": 2.5, "prune": -3.0},
                             {"beam": 4, "alpha": 0.1, "beta": -1.0, "prune": -8.0}]


def test_explicit_settings_win_and_beta_needs_an_lm(tmp_path, wav, decoder_calls):
    folder = speech_folder(tmp_path / "m", lm_alpha=0.9, lm_beta=2.5, beam_prune=-3.0)
    Transcriber(folder).transcribe(wav, beam=2, lm="lm-folder", alpha=0.3, prune=-1.0)
    Transcriber(folder, decoding={"beta": 0.7}).transcribe(wav, beam=2, lm="lm-folder")
    Transcriber(folder).transcribe(wav, beam=2)
    assert decoder_calls == [{"beam": 2, "alpha": 0.3, "beta": 2.5, "prune": -1.0},
                             {"beam": 2, "alpha": 0.9, "beta": 0.7, "prune": -3.0},
                             {"beam": 2, "alpha": 0.9, "beta": 0.0, "prune": -3.0}]


def test_a_folder_without_a_manifest_decodes_with_the_defaults(tmp_path, wav, decoder_calls):
    folder = speech_folder(tmp_path / "m", lm_alpha=0.9)
    (folder / "manifest.json").unlink()
    Transcriber(folder).transcribe(wav, beam=3, lm="lm-folder")
    default = SpeechConfig()
    assert decoder_calls == [{"beam": 3, "alpha": default.lm_alpha, "beta": default.lm_beta,
                              "prune": default.beam_prune}]


def test_transcribe_command_reads_the_model_then_what_the_user_names(tmp_path, wav, decoder_calls, monkeypatch):
    from seqpipe.cli import app

    monkeypatch.setattr("seqpipe.core.environment.prepare", lambda state_dir: None)  # leaves os.environ alone
    monkeypatch.chdir(tmp_path)  # the default conf/pipeline.yaml restates the defaults: it is not a choice
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pipeline.yaml").write_text("speech:\n  lm_alpha: 0.5\n  lm_beta: 1.0\n")
    folder = speech_folder(tmp_path / "m", lm_alpha=0.9, lm_beta=2.5, beam_prune=-3.0)
    base = ["transcribe", "--model", str(folder), "--beam", "4", "--lm", "lm-folder", "--set",
            f"runtime.state_dir={tmp_path / 'state'}"]
    for extra in ([], ["--set", "speech.lm_alpha=0.2", "--set", "speech.beam_prune=-6"]):
        out = CliRunner().invoke(app, base + extra + [str(wav)])
        assert out.exit_code == 0 and out.stdout.startswith(str(wav)), out.output
    assert decoder_calls == [{"beam": 4, "alpha": 0.9, "beta": 2.5, "prune": -3.0},
                             {"beam": 4, "alpha": 0.2, "beta": 2.5, "prune": -6.0}]


def test_beam_search_fuses_the_folders_own_lm_with_its_tuned_weights(tmp_path, wav, monkeypatch):
    from seqpipe.models.char_ngram import CharNgramLM

    seen = []
    monkeypatch.setattr(transcriber_module, "prefix_beam_search",
                        lambda lp, beam, lm=None, alpha=None, beta=None, prune=None: seen.append((lm, alpha, beta))
                        or [([1], 0.0)])
    folder = speech_folder(tmp_path / "m", lm_alpha=0.9, lm_beta=2.5)
    Transcriber(folder).transcribe(wav, beam=2)
    assert seen.pop() == (None, 0.9, 0.0), "no LM of its own: plain beam search"
    CharNgramLM.fit(["yes", "no"], SpeechConfig().alphabet, 3).save(folder / "fusion_lm.json")
    write_json(folder / "decoding.json", {"lm_alpha": 1.5, "lm_beta": 0.5})
    Transcriber(folder).transcribe(wav, beam=2)
    lm, alpha, beta = seen.pop()
    assert isinstance(lm, CharNgramLM) and (alpha, beta) == (1.5, 0.5), "the weights tuned on dev win over the config"
    Transcriber(folder).transcribe(wav, beam=2, alpha=0.2)
    assert seen.pop()[1] == 0.2, "what the caller names wins over both"
