"""The CTC acoustic model: shapes, SpecAugment, and overfitting a few real utterances to CER 0."""
import jiwer
import torch

from seqpipe.decoding.ctc import greedy
from seqpipe.models.acoustic import AcousticModel, perturb_voice, spec_augment
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


def test_voice_perturbation_stretches_time_and_the_mel_axis_within_bounds():
    torch.manual_seed(0)
    ramp = torch.arange(200.0).view(1, 200, 1).expand(3, 200, 40).clone()  # the value is the frame number
    lengths = torch.tensor([200, 120, 50])
    for _ in range(20):
        out, new_lengths = perturb_voice(ramp, lengths, 0.1, 0.0)
        frames = out.shape[1]
        assert 200 / 1.1 - 1 <= frames <= 200 / 0.9 + 1, "at most 10% faster or slower"
        assert new_lengths.tolist() == [min(round(n * frames / 200), frames) for n in lengths.tolist()]
        assert out[0, 0, 0] < 1 and abs(float(out[0, -1, 0]) - 199) < 1.5, "the whole utterance, resampled"
    bins = torch.arange(40.0).expand(2, 10, 40)  # the value is the mel bin
    warped, same = perturb_voice(bins, torch.tensor([10, 10]), 0.0, 0.1)
    assert same.tolist() == [10, 10] and warped.shape == bins.shape
    ratio = warped[:, 0, 1:30] / bins[:, 0, 1:30]
    assert ((ratio > 0.9 - 1e-6) & (ratio < 1.1 + 1e-6)).all(), "bin f reads bin f * a, |a - 1| <= 0.1"
    assert (ratio.std(dim=1) < 1e-5).all(), "one stretch per utterance"
    assert (perturb_voice(bins, torch.tensor([10, 10]), 0.0, 0.0)[0] == bins).all()


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
