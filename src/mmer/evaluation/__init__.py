"""How predictions are judged: the task registry (:mod:`~mmer.evaluation.tasks`: per task its loss, metrics, scores,
merge rule and plot), losses and metrics (one definition each, used by the epoch metrics and the tables),
prediction tables, the CCC-centering merge, post-processing, the :class:`~mmer.evaluation.evaluator.Evaluator`
that binds the tabled head to its task, score tables and plots."""
