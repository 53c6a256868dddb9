"""Speech recognition: audio, features, manifests, demo voices, the CTC task and stage."""
