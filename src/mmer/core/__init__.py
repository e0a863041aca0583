"""The bottom layer: the Batch contract (:mod:`~mmer.core.batch`), errors, atomic writes (:mod:`~mmer.core.io`), OS
locks, DDP helpers (:mod:`~mmer.core.distributed`), the commands' log filters, pretrained weights by name or path
(:mod:`~mmer.core.weights`), time-axis resampling and the git commit. Imports nothing else of mmer."""
