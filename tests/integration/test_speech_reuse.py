"""The speech stage on real Ray: a recording edited in place (same size) is new input."""
from pathlib import Path

import pytest
import soundfile as sf

from seqpipe.config import EncoderConfig, RuntimeConfig, SpeechConfig, TrainConfig

pytestmark = pytest.mark.slow


def rewrite_same_size(path: Path) -> None:
    """Other sample values (half as loud), same length and format: the file keeps its size."""
    wave, rate = sf.read(path, dtype="float32")
    subtype, size = sf.info(str(path)).subtype, path.stat().st_size
    sf.write(path, wave * 0.5, rate, subtype=subtype)
    assert path.stat().st_size == size


def test_an_edited_recording_of_the_same_size_retrains(ray_session, tmp_path):
    from seqpipe.config import DemoConfig
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.speech import stage

    runtime = RuntimeConfig(state_dir=str(tmp_path / "state"))
    cfg = stage.with_demo_data(SpeechConfig(out=str(tmp_path / "asr"), n_mels=16, beam=2, beam_utterances=2,
                                            encoder=EncoderConfig(cell="gru", hidden=8, layers=1),
                                            train=TrainConfig(epochs=1, num_workers=1, batch_size=8)),
                               str(tmp_path / "demo"), DemoConfig(speech_utterances=20))
    first = stage.run(cfg, StageInputs(), runtime)
    assert not first.reused and stage.run(cfg, StageInputs(), runtime).reused
    train_wav = next(Path(cfg.train_manifest).parent.rglob("*.wav"))
    rewrite_same_size(train_wav)
    edited = stage.run(cfg, StageInputs(), runtime)
    assert not edited.reused and edited.uri != first.uri, "the stale model was reused"
