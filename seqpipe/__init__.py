"""seqpipe: a distributed data-and-training pipeline for sequence models."""
__version__ = "0.1.0"
