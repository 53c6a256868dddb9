"""The `seqpipe` command: the app of seqpipe.cli.app with every command group registered."""
from seqpipe.cli import data, embeddings, models, ops  # noqa: F401  (each registers its commands on the app)
from seqpipe.cli.app import app

__all__ = ["app"]
