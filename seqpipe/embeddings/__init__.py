"""Word-embedding pretraining: kernels, training loop, evaluation, export."""
