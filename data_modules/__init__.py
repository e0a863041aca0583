"""LightningDataModules, one per dataset, on the shared windowing / fold / collation base in :mod:`mmer.data.base`."""
