"""mmer: multimodal emotion recognition on PyTorch Lightning.

Public entry points most users need:

- :func:`mmer.evaluation.metrics.ccc`: Lin's concordance correlation coefficient (population moments, float64).
- :mod:`mmer.evaluation.merge`: window starts, window stitching and the CCC-centering merge of fold predictions.
- :func:`mmer.cv.run_cv`: k-fold cross-validation of one experiment config.
"""

__version__ = "0.1.0"
