"""Distributed training on Ray Train (the only package that imports ray.train)."""
