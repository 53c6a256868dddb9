"""Prefect flows: thin orchestration over the seqpipe library."""
