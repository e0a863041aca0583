"""``mmer merge fold0.csv fold1.csv ... -o merged.csv``: CCC-centering merge of per-fold prediction CSVs."""

from __future__ import annotations

import argparse

from mmer.evaluation.tables import merge_files


def run(args: argparse.Namespace) -> int:
    print(merge_files(args.files, args.output))
    return 0
