"""mmer: multimodal emotion recognition on PyTorch Lightning.

Public entry points most users need:

- :func:`mmer.cv.run_cv`: k-fold cross-validation of one composed experiment config (``mmer.config.compose``).
- :func:`mmer.runs.load_module` / :func:`mmer.runs.load_run`: a trained model, or a run's fold ensemble.
- :func:`mmer.evaluation.metrics.ccc`: Lin's concordance correlation coefficient (population moments, float64).
- :mod:`mmer.data.windows` and :func:`mmer.evaluation.merge.ccc_centering`: windows, stitching and the
  CCC-centering merge of fold predictions.

The package is layered (docs/concepts/architecture.md): cli > commands > cv > runs > config > model | data_modules
> evaluation > data > core; a layer imports only the layers below it.
"""

__version__ = "0.1.0"
