"""Shared data machinery under every dataset of ``data_modules/``: the base data module and its hooks, records,
windows and stitching, collation, grouped folds, the feature cache and extraction, media decoding, the audio front
end, faces, frozen-backbone embeddings and dataset fingerprints. It never imports the model."""
