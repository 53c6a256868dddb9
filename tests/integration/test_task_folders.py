"""Every registered task has the same shape: the five files, the stage interface, and a
predictor that loads from the stage's own output by the dotted path in its manifest."""
import importlib
from pathlib import Path

import pytest

from flows.step import TASKS, config_section
from seqpipe.config import DemoConfig, EncoderConfig, PipelineConfig, RuntimeConfig, TrainConfig
from seqpipe.core.artifacts import read_json
from seqpipe.core.predictor import Predictor, load_predictor
from seqpipe.core.stage import StageInputs

FILES = ("data.py", "task.py", "evaluate.py", "stage.py", "predictor.py")
INTERFACE = ("run", "with_demo_data", "evaluation_set", "REGISTER_AS", "GATE", "PREDICTOR")
TINY = {"train": TrainConfig(epochs=1, num_workers=1, batch_size=16), "encoder": EncoderConfig(hidden=8, layers=1)}
SETTINGS = {"pretrain": {"dim": 8, "epochs": 1, "num_workers": 1},
            "ner": TINY, "lm": {**TINY, "encoder": EncoderConfig(hidden=8, layers=1, bidirectional=False),
                                "dev_sentences": 20, "max_sentences": 200},
            "translation": {**TINY, "sweep": False, "analysis_sentences": 5, "attention_plots": 1},
            "speech": {**TINY, "n_mels": 16, "beam": 2, "beam_utterances": 2}, "sentiment": TINY,
            "captioning": {**TINY, "image_size": 16, "channels": [4, 8], "attention_plots": 1, "beam": 2}}
DEMO = DemoConfig(ner_sentences=60, translation_pairs=120, speech_utterances=20, sentiment_texts=60,
                  captioning_images=30)


@pytest.mark.parametrize("stage", sorted(TASKS))
def test_each_task_folder_has_the_same_files_and_interface(stage):
    module = TASKS[stage]
    folder = Path(module.__file__).parent
    assert folder.parent.name == "tasks" and all((folder / name).is_file() for name in FILES), sorted(folder.iterdir())
    assert all(hasattr(module, name) for name in INTERFACE)
    predictor_module, _, cls = module.PREDICTOR.partition(":")
    assert predictor_module == f"seqpipe.tasks.{folder.name}.predictor"
    assert hasattr(importlib.import_module(predictor_module), cls)


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(TASKS))
def test_each_task_predictor_loads_from_its_stage_output(stage, corpus_and_vocab, ray_session, tmp_path):
    corpus, vocab, _ = corpus_and_vocab
    module, section = TASKS[stage], config_section(stage)
    defaults = getattr(PipelineConfig(), section)
    cfg = defaults.model_copy(update={**SETTINGS[stage], "out": str(tmp_path / "out")})
    cfg = module.with_demo_data(cfg, str(tmp_path / "demo"), DEMO)
    result = module.run(cfg, StageInputs(corpus=corpus, vocab=vocab), RuntimeConfig(state_dir=str(tmp_path / "state")))
    manifest = read_json(Path(result.uri) / "manifest.json")
    assert manifest["kind"] == Path(module.__file__).parent.name and manifest["predictor"] == module.PREDICTOR
    predictor = load_predictor(result.uri, manifest["kind"])
    assert isinstance(predictor, Predictor)
    assert len(predictor.predict(manifest["examples"])) == len(manifest["examples"])
