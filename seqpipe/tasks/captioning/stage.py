"""Captioning stage: captioned images -> a trained captioner in captioning-<hash>/.

The folder holds words.txt, model.json, the best epoch's weights (model.pt, a state dict),
metrics.json (BLEU-4, exact match and, with the captioning extra, CIDEr-D of greedy and
beam-search captions; the training history), attention/*.png (where each word looked),
rejects.jsonl and manifest.json. The resized images the workers read (images.npy) are not kept. It is named by the hash of the
captions files, the images and the config, so an unchanged rerun is a no-op.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import CaptioningConfig, RuntimeConfig
from seqpipe.core.artifacts import sha256_file, sha256_files, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.paths import allowed_roots, check_paths
from seqpipe.core.stage import Gate, StageInputs, StageResult, numeric, output_folder, run_stage, stage_input_hash, \
    write_rejects
from seqpipe.tasks.captioning import data
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.captioning.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.captioning.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.captioning.predictor:ImageCaptioner"
REGISTER_AS = "seqpipe-captioner"
GATE = Gate(("test_bleu", "dev_bleu"), "max", baseline="bleu_greedy")
DIGEST_CACHE = "cache/sha256.json"  # under the state folder: image digests by (path, size, timestamps)


def run(cfg: CaptioningConfig, inputs: StageInputs, runtime: RuntimeConfig,
        mlflow_run_id: str | None = None) -> StageResult:
    """Train a captioner into <out>/captioning-<hash>/; a no-op when that folder exists."""
    if not cfg.train_captions:
        raise InputError("captioning.train_captions is not set: name a captions file (or run the pipeline for the "
                         "demo data)")
    files = data.split_files(cfg)
    check_paths([*files.values(), *([cfg.images] if cfg.images else [])], runtime, "captioning data")
    splits = data.read_splits(cfg, files, allowed_roots(runtime))
    images = sorted({p for d in splits.values() for p in d.paths})
    input_hash = stage_input_hash(config=cfg.model_dump(exclude={"out"}), references=data.REFERENCES,
                                  files={k: sha256_file(f) for k, f in files.items()},
                                  images=sha256_files(images, runtime.local_dir / DIGEST_CACHE))

    def build(tmp: Path) -> dict:
        counts = data.prepare(tmp, cfg, splits)
        metrics = _train_and_evaluate(tmp, cfg, runtime, list(splits), input_hash, mlflow_run_id)
        (tmp / "images.npy").unlink()
        write_rejects(tmp, [r for d in splits.values() for r in d.rejects])
        write_json(tmp / "metrics.json", metrics)
        return {"content_hash": sha256_file(tmp / "model.pt"), "files": files, "counts": counts,
                "rejected": {k: len(d.rejects) for k, d in splits.items()},
                "config": cfg.model_dump(mode="json"), "metrics": numeric(metrics),
                "artifacts": ["metrics.json", "model.json", "attention"], "predictor": PREDICTOR,
                "examples": [splits["dev"].paths[0]] if splits["dev"].paths else []}

    return run_stage(output_folder(cfg.out, runtime, "captioning", "captioning", input_hash), "captioning",
                     input_hash, build)


def _train_and_evaluate(folder: Path, cfg: CaptioningConfig, runtime, splits: list[str], input_hash: str,
                        run_id) -> dict:
    from seqpipe.tasks.captioning.evaluate import evaluate_model

    task_config = {"folder": str(folder), "max_words": cfg.max_words}
    metrics, result = train_model(folder, "seqpipe.tasks.captioning.task:build_task", task_config, cfg.train,
                                  runtime, f"captioning-{input_hash[:16]}", "max", run_id)
    metrics.update(evaluate_model(folder, cfg, result.best_state, splits))
    metrics["captions_per_s"] = mean_over_epochs(metrics["history"], "tokens_per_s")  # the loop counts words
    return metrics
