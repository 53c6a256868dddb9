"""A stage's MLflow run against a real SQLite backend: which error the user sees when closing the run fails."""
import pytest

from seqpipe.config import RuntimeConfig
from seqpipe.tracking import runs


def runtime_in(tmp_path) -> RuntimeConfig:
    return RuntimeConfig(executor="local", state_dir=str(tmp_path / "state"))


def test_the_stage_error_is_raised_when_closing_the_run_fails_too(tmp_path):
    """A diverging model is a user error (never retried); a failing end_run must not replace it."""
    from mlflow.tracking import MlflowClient

    with pytest.raises(FloatingPointError, match="diverged") as raised:
        with runs.stage_run(runtime_in(tmp_path), "ner", runtime_in(tmp_path)) as run_id:
            MlflowClient().delete_run(run_id)  # a deleted run cannot be closed: end_run raises
            raise FloatingPointError("ner: the loss diverged at epoch 3")
    assert any("Closing MLflow run" in note for note in raised.value.__notes__)


def test_a_run_that_cannot_be_closed_after_a_good_stage_is_an_error(tmp_path):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    with pytest.raises(MlflowException):
        with runs.stage_run(runtime_in(tmp_path), "ner", runtime_in(tmp_path)) as run_id:
            MlflowClient().delete_run(run_id)


def test_an_experiment_another_process_creates_meanwhile_is_used(tmp_path, monkeypatch):
    """Two runs starting at once both find no experiment and both create it (seen with 4 processes
    against an MLflow server): the second must use the first's, not fail."""
    import mlflow

    runtime = runtime_in(tmp_path)
    runs.configure(runtime)  # the other process's experiment
    created = mlflow.get_experiment_by_name(runtime.experiment).experiment_id
    lookup, looks = mlflow.get_experiment_by_name, []

    def looked_too_early(name):  # our first look came just before the other process created it
        looks.append(name)
        return None if len(looks) == 1 else lookup(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", looked_too_early)
    runs.configure(runtime)
    assert mlflow.get_experiment_by_name(runtime.experiment).experiment_id == created
