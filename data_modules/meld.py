"""MELD: emotion recognition in conversation, one item = one whole dialogue (``../shared/DATASETS.md``).

Reads ``{train,dev,test}_sent_emo.csv`` exactly as shipped (UTF-8, quoted ``"hh:mm:ss,ms"`` times, utterance-id
gaps, dialogue ids restarting per split): recordings are keyed ``<split>/dia<D>``, utterances sorted by
``Utterance_ID``. The utterance is the time step ("frame") of the windowed machinery: one window = one whole
dialogue, padded to the longest dialogue with masks. Targets per utterance: ``emotion`` (7 classes, in the
official order neutral, surprise, fear, sadness, joy, disgust, anger) and ``sentiment`` (neutral, positive,
negative). Splits are the official ones: train is trained on, dev selects the checkpoint (fold 0's validation),
test (if its CSV is present) is the held-out partition; ``split_names`` makes the summary say train/dev/test.

Text: see :class:`~data_modules.dialogue.DialogueDataModule` (the modality ``text``: speaker-prefixed utterances
tokenised by the encoder's own tokenizer).
Audio/visual clips (``dia{D}_utt{U}.mp4``) are not read yet: MELD runs text-only here.

Bad input: a missing column, an unknown emotion or sentiment label or a duplicate (dialogue, utterance) stops with
the file and row; empty utterances and one-utterance dialogues are kept and counted in one warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_modules.base import Recording, require_dir
from data_modules.dialogue import Dialogue, DialogueDataModule
from mmer.errors import ConfigError, DataError

log = logging.getLogger(__name__)
EMOTIONS = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]  # official index order
SENTIMENTS = ["neutral", "positive", "negative"]
COLUMNS = ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"]
SPLITS = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def read_meld_csv(path: Path):
    """One split's CSV as a DataFrame sorted by (Dialogue_ID, Utterance_ID), labels checked."""
    import pandas as pd

    try:
        df = pd.read_csv(path, encoding="utf-8", keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as the MELD CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; found {list(df.columns)}. Expected the official MELD "
                        f"header (Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,...)")
    for col, names in (("Emotion", EMOTIONS), ("Sentiment", SENTIMENTS)):
        bad = ~df[col].str.strip().str.lower().isin(names)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}, row {i + 2}: unknown {col.lower()} '{df[col].iloc[i]}'; MELD's are {names}")
    for col in ("Dialogue_ID", "Utterance_ID"):
        ids = pd.to_numeric(df[col], errors="coerce")
        if ids.isna().any():
            i = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise DataError(f"{path}, row {i + 2}: {col} '{df[col].iloc[i]}' is not an integer")
        df[col] = ids.astype(int)
    dup = df.duplicated(["Dialogue_ID", "Utterance_ID"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"{path}, row {i + 2}: dialogue {df['Dialogue_ID'].iloc[i]} utterance "
                        f"{df['Utterance_ID'].iloc[i]} appears twice")
    return df.sort_values(["Dialogue_ID", "Utterance_ID"], kind="stable").reset_index(drop=True)


class MeldDataModule(DialogueDataModule):
    """Args: root: folder with the CSVs (``DATA_DIR``); the rest as :class:`~data_modules.dialogue.DialogueDataModule`.
    The official split is fixed: ``num_folds=1`` with ``fold0_official=true`` (dev = fold 0's validation)."""

    split_names = {"train": "train", "val": "dev", "test": "test"}

    def __init__(self, root: str | None = None, **dialogue) -> None:
        dialogue.setdefault("num_folds", 1)
        dialogue.setdefault("fold0_official", True)
        if dialogue["num_folds"] != 1 or not dialogue["fold0_official"]:
            raise ConfigError("MELD uses its official splits: data.num_folds=1 (cv.folds=1) and fold0_official=true")
        super().__init__(**dialogue)
        self.root = root

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": EMOTIONS, "sentiment": SENTIMENTS}

    def dialogues(self) -> list[Dialogue]:
        root = Path(require_dir(self.root, "meld"))
        frames = {}
        for split, name in SPLITS.items():
            if (root / name).is_file():
                frames[split] = read_meld_csv(root / name)
            elif split != "test":
                raise DataError(f"meld: {root / name} is missing; DATA_DIR must hold train_sent_emo.csv and "
                                f"dev_sent_emo.csv (test_sent_emo.csv is optional)")
        out = []
        for split, df in frames.items():
            for dialogue, rows in list(df.groupby("Dialogue_ID", sort=True))[: self.max_dialogues]:
                rec_id, n = f"{split}/dia{dialogue}", len(rows)
                labels = {"emotion": rows["Emotion"].str.strip().str.lower().map(EMOTIONS.index),
                          "sentiment": rows["Sentiment"].str.strip().str.lower().map(SENTIMENTS.index)}
                out.append(Dialogue(
                    Recording(rec_id, rec_id, n, "test" if split == "test" else "trainval", official_val=split == "dev"),
                    texts=[str(u).strip() for u in rows["Utterance"]], speakers=[str(s).strip() for s in rows["Speaker"]],
                    targets={k: v.to_numpy(np.int64) for k, v in labels.items()},
                    target_masks={k: np.ones(n, bool) for k in labels}))
        return out
