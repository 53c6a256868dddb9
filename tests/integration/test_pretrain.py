"""Pretraining on real Ray Train: word2vec and GloVe stages, and resuming a killed run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqpipe.config import EmbeddingsConfig, RuntimeConfig
from seqpipe.data.vectors import Embeddings
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.embeddings import stage
from tests.conftest import kill_after_first_checkpoint

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("settings", [
    {"algo": "skipgram", "num_workers": 2},
    {"algo": "cbow", "loss": "hs", "num_workers": 1},
    {"algo": "glove", "num_workers": 2},
])
def test_each_algorithm_trains_on_ray_train_and_exports(corpus_and_vocab, ray_session, settings, tmp_path):
    corpus, vocab, _ = corpus_and_vocab
    cfg = EmbeddingsConfig(dim=16, epochs=2, chunk_tokens=5000, out=str(tmp_path / "emb"), **settings)
    result = stage.run(cfg, StageInputs(corpus=corpus, vocab=vocab), RuntimeConfig(state_dir=str(tmp_path / "state")))
    embeddings = Embeddings.load(result.uri)
    assert embeddings.vectors.shape == (len(embeddings.tokens), 16)
    assert np.isfinite(embeddings.vectors).all() and embeddings.vectors.std() > 0
    assert len(result.metrics["epoch_seconds"]) == 2
    from seqpipe.data.word2vec_format import load_word2vec

    tokens, vectors = load_word2vec(Path(result.uri) / "vectors.bin", binary=True)
    assert tokens == embeddings.tokens and np.allclose(vectors, embeddings.vectors)
    again = stage.run(cfg, StageInputs(corpus=corpus, vocab=vocab), RuntimeConfig(state_dir=str(tmp_path / "state")))
    assert again.reused and again.uri == result.uri


RUN = """
import sys
from seqpipe.config import EmbeddingsConfig, RuntimeConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.embeddings import stage
cfg = EmbeddingsConfig(dim=16, epochs=8, chunk_tokens=5000, out=sys.argv[3])
stage.run(cfg, StageInputs(corpus=sys.argv[1], vocab=sys.argv[2]), RuntimeConfig(state_dir=sys.argv[4], num_cpus=2))
"""


def test_a_killed_run_resumes_from_its_last_checkpoint(corpus_and_vocab, tmp_path):
    corpus, vocab, _ = corpus_and_vocab
    args = ["-c", RUN, corpus, vocab, str(tmp_path / "emb"), str(tmp_path / "state")]
    killed_at = kill_after_first_checkpoint(args, tmp_path / "state" / "ray_results", "pretrain")
    assert not list((tmp_path / "emb").glob("embeddings-*")), "no embeddings were published by the killed run"
    second = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = json.loads(next((tmp_path / "emb").glob("embeddings-*/manifest.json")).read_text())
    seconds = manifest["metrics"]["epoch_seconds"]
    done = [round(h["seconds"], 3) for h in killed_at["history"]]
    assert len(seconds) == 8 and 1 <= len(done) < 8
    assert seconds[:len(done)] == done, "the finished epochs were resumed from the checkpoint, not retrained"
