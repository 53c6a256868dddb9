"""A task stage for the registration race (tests/faults/test_register_race.py): what a real stage
does around its training (run_stage, the manifest, a predictor), without the training, so that
several processes finish the same folder within a second of each other."""
import os
import random
import time
from pathlib import Path

from seqpipe.core.stage import Gate, StageResult, output_folder, run_stage

REGISTER_AS = "seqpipe-race"
GATE = Gate(("test_f1",), "max")
INPUT_HASH = "0123456789abcdef" * 4


def run(cfg, inputs, runtime, mlflow_run_id=None) -> StageResult:
    def build(tmp: Path) -> dict:
        time.sleep(max(0.0, float(os.environ["RACE_START"]) - time.time()))  # every writer finishes together
        (tmp / "model.txt").write_text(f"writer {os.getpid()}")
        return {"content_hash": f"writer-{os.getpid()}", "metrics": {"test_f1": random.random()},
                "predictor": "tests.faults.racing_stage:Echo", "examples": ["a b"], "artifacts": ["model.txt"]}

    return run_stage(output_folder(None, runtime, "race", "race", INPUT_HASH), "race", INPUT_HASH, build)


def evaluation_set(cfg, inputs) -> tuple[list, dict]:
    return [], {"race": 1}


class Echo:
    def __init__(self, folder):
        self.folder = folder

    def predict(self, inputs: list) -> list:
        return list(inputs)
