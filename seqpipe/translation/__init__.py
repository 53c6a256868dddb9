"""Translation: parallel data, demo dates, the seq2seq task and stage."""
