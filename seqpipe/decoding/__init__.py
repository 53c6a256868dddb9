"""Decoding for seq2seq models: greedy and beam search, target scoring, beam-search error analysis."""
