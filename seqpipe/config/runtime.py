"""How and where the pipeline runs: state folder, Ray, MLflow, services, the nightly schedule,
the promotion gate and the demo's sizes and budgets."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from seqpipe.config.base import Strict
from seqpipe.core.paths import is_uri
from seqpipe.core.store import working_copy


class RuntimeConfig(Strict):
    state_dir: str = Field(".seqpipe", description="Project state: stage folders, Prefect DB, MLflow DB and artifacts, "
                           "demo data. A URI (s3://bucket/seqpipe) keeps the stage folders and Ray Train checkpoints on "
                           "object storage and the rest in work_dir.")
    work_dir: str | None = Field(None, description="Local folder for what stays on this machine when state_dir is a URI "
                                 "(working copies of stage folders, logs, MLflow's SQLite, demo data); null = "
                                 "~/.cache/seqpipe/<state_dir without its scheme>.")
    executor: Literal["ray", "local"] = Field("ray", description="'ray': stages fan out as Ray tasks; 'local': in-process.")
    ray_address: str = Field("local", description="'local' starts Ray on this machine; 'auto' or 'ray://host:10001' joins a cluster.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray; null = all cores.")
    shared_disk: bool = Field(False, description="true: every node of the Ray cluster sees this machine's paths (a "
                              "shared volume), so tasks read and write them on any node; false: nodes share no disk "
                              "(what they exchange goes through state_dir's bucket or Ray's object store).")
    max_concurrent_stages: int | None = Field(
        None, ge=1, description="Downstream stages trained at once, each on its share of the cluster; null = as "
        "many as the cluster's CPUs and GPUs hold for the configured workers (1 on a 2-core machine).")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; null = SQLite under state_dir.")
    experiment: str = "seqpipe"
    strict_paths: bool = Field(False, description="Refuse data paths outside data_roots.")
    data_roots: list[str] = Field(default_factory=list, description="Folders data may come from when strict_paths "
                                  "is on; the state folder is always allowed.")

    @property
    def local_dir(self) -> Path:
        """The state folder on this machine: state_dir itself, or work_dir when state_dir is a URI."""
        if not is_uri(self.state_dir):
            return Path(self.state_dir).expanduser().resolve()
        if self.work_dir:
            return Path(self.work_dir).expanduser().resolve()
        return working_copy(self.state_dir, Path.home() / ".cache" / "seqpipe")

    def absolute(self) -> "RuntimeConfig":
        """The same settings with local folders made absolute (Ray workers run in another cwd)."""
        return self.model_copy(update={
            "state_dir": self.state_dir if is_uri(self.state_dir) else str(self.local_dir),
            "work_dir": self.work_dir and str(Path(self.work_dir).expanduser().resolve())})

    @property
    def store_cache(self) -> Path:
        """Where working copies of object-storage folders live."""
        return self.local_dir / "store"


class ServicesConfig(Strict):
    host: str = Field("127.0.0.1", description="Address `seqpipe up` binds the Prefect and MLflow servers to; "
                      "0.0.0.0 exposes them to the network (they have no authentication).")
    prefect_port: int = Field(4200, ge=1, le=65535)
    mlflow_port: int = Field(5000, ge=1, le=65535)
    start_timeout_s: float = Field(120.0, gt=0, description="How long `seqpipe up` waits for a server to answer.")


class ScheduleConfig(Strict):
    cron: str = Field("0 2 * * *", description="When the nightly retraining (the `pipeline` deployment) runs.")
    timezone: str = Field("UTC", description="IANA time zone of the cron expression, e.g. Europe/Paris.")
    active: bool = Field(True, description="false = the schedule is created paused (resume it in the Prefect UI).")


class PromotionConfig(Strict):
    enabled: bool = Field(True, description="Gate every newly registered model version against the `champion` alias.")
    margin: float = Field(0.0, ge=0, description="How much better (in the gate metric's own units: F1, BLEU, "
                          "perplexity, CER) a version must be to become champion; equal or worse stays challenger.")
    margins: dict[str, float] = Field(default_factory=dict, description="Per registered model, e.g. "
                                      "{seqpipe-ner: 0.005}; overrides margin.")

class DemoConfig(Strict):
    corpus: Literal["auto", "english", "docstrings"] = Field(
        "auto", description="english: the prose packages make install adds (speeches, Wikipedia, recipes); docstrings: "
        "the installed packages' documentation; auto: english where installed.")
    max_mb: float = Field(20.0, gt=0, description="Size of the demo corpus (at most).")
    ner_sentences: int = Field(6000, ge=30, description="Sentences of the generated NER demo set (80/10/10 split).")
    translation_pairs: int = Field(20_000, ge=100, description="Pairs of the generated date-translation demo set.")
    speech_utterances: int = Field(600, ge=20, description="Utterances synthesised for the speech demo set.")
    sentiment_texts: int = Field(6000, ge=30, description="Reviews of the generated sentiment demo set (80/10/10 split).")
    captioning_images: int = Field(3000, ge=30, description="Scenes of the generated captioning demo set (80/10/10).")
    train_minutes: float = Field(1.0, gt=0, description="Training budget of each downstream stage on demo data "
                                 "(a stage's own train.max_minutes wins when set).")
    speech_train_minutes: float = Field(1.5, gt=0, description="The speech demo's budget instead: its CER passes "
                                        "0.25 after 9 to 11 epochs of 5-6 s on 2 cores, so 1 minute had no margin.")
    captioning_train_minutes: float = Field(6.0, gt=0, description="The captioning demo's budget instead: exact "
                                            "match 0.94 on unseen scenes after 13 epochs of about 30 s on 2 cores "
                                            "(captioning is not among the default downstream stages).")
