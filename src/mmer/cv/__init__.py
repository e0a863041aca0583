"""The CV job: k folds trained (or resumed, or reused), predicted and merged (:mod:`~mmer.cv.job`), prepared and
named first (:mod:`~mmer.cv.prepare`), its scores in one key grammar (:mod:`~mmer.cv.summary`); fold jobs side by
side (:mod:`~mmer.cv.multirun`) and merging a run without training (:mod:`~mmer.cv.merge_run`)."""

from mmer.cv.job import CVJob, CVResult, FoldResult, run_cv
from mmer.cv.prepare import prepare, run_dir_for

__all__ = ["CVJob", "CVResult", "FoldResult", "prepare", "run_cv", "run_dir_for"]
