"""The CTC acoustic model: shapes, SpecAugment, and overfitting a few real utterances to CER 0."""
import jiwer
import torch

from seqpipe.decoding.ctc import greedy
from seqpipe.models.acoustic import AcousticModel, spec_augment
from seqpipe.tasks.speech.audio import resample
from seqpipe.tasks.speech.features import LogMel
from seqpipe.tasks.speech.manifest import ALPHABET
from seqpipe.tasks.speech.synth import Synthesizer
from seqpipe.tasks.speech.task import labels_to_text


def test_output_lengths_follow_the_convolutions():
    model = AcousticModel(40, 29, conv_layers=2, hidden=16, layers=1)
    lengths = torch.tensor([100, 37, 1])
    log_probs, out = model.eval().log_probs(torch.randn(3, 100, 40), lengths)
    assert out.tolist() == [25, 10, 1] and log_probs.shape == (3, 25, 29)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 25))


def test_spec_augment_masks_bands_and_spans_but_not_everything():
    torch.manual_seed(0)
    features = torch.ones(2, 200, 80)
    masked = spec_augment(features, torch.tensor([200, 100]), 2, 15, 2, 40)
    assert 0 < (masked == 0).float().mean() < 0.5
    assert (features == 1).all(), "the input is left alone"


def test_the_model_overfits_a_few_utterances_to_cer_zero():
    torch.manual_seed(0)
    synthesizer, logmel = Synthesizer(), LogMel(n_mels=40)
    texts = ["yes", "no way", "stop here"]
    features, targets = [], []
    for text in texts:
        wave, rate = synthesizer.synthesize(text, "en-us", rate_wpm=160)
        features.append(logmel.normalise(logmel(resample(wave, rate, 16000))))
        targets.append(torch.tensor([ALPHABET.index(c) + 1 for c in text]))
    batch = {"features": torch.nn.utils.rnn.pad_sequence(features, batch_first=True),
             "lengths": torch.tensor([len(f) for f in features]),
             "targets": torch.nn.utils.rnn.pad_sequence(targets, batch_first=True),
             "target_lengths": torch.tensor([len(t) for t in targets])}
    model = AcousticModel(40, len(ALPHABET) + 1, conv_layers=1, conv_channels=8, hidden=64, layers=1, dropout=0.0,
                          freq_masks=0, time_masks=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = model(**batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    log_probs, lengths = model.eval().log_probs(batch["features"], batch["lengths"])
    hyps = [labels_to_text(ids, ALPHABET) for ids in greedy(log_probs, lengths)]
    assert jiwer.cer(texts, hyps) == 0.0, hyps
