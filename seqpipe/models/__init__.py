"""Sequence-model layers."""
