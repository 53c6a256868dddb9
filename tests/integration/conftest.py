"""What the pipeline tests share: an ephemeral Prefect server, the MLflow runs of a state folder."""
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


def mlflow_runs(state_dir: Path):
    """(client, the runs of the `seqpipe` experiment, oldest first)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("seqpipe")
    return client, client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
