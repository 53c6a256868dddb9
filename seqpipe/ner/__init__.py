"""Named-entity recognition: CoNLL data, tag schemes, demo data."""
