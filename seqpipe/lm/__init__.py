"""Language model: corpus sequences, training task, sampling and scoring."""
