"""MELD: emotion recognition in conversation, one item = one whole dialogue (docs/reference/datasets.md).

Reads ``{train,dev,test}_sent_emo.csv`` exactly as shipped (UTF-8, quoted ``"hh:mm:ss,ms"`` times, utterance-id
gaps, dialogue ids restarting per split): recordings are keyed ``<split>/dia<D>``, utterances sorted by
``Utterance_ID``. The utterance is the time step ("frame") of the windowed machinery: one window = one whole
dialogue, padded to the longest dialogue with masks. Targets per utterance: ``emotion`` (7 classes, in the
official order neutral, surprise, fear, sadness, joy, disgust, anger) and ``sentiment`` (neutral, positive,
negative). Splits are the official ones: train is trained on, dev selects the checkpoint (fold 0's validation),
test (if its CSV is present) is the held-out partition; ``split_names`` makes the summary say train/dev/test.

Text: see :class:`~mmer.data.dialogue.DialogueDataModule` (the modality ``text``: speaker-prefixed utterances
tokenised by the encoder's own tokenizer).
Clips (``clips=true``): ``dia{D}_utt{U}.mp4`` found by name under the root, the split told by the folder name
(``train_splits``, ``dev_splits_complete``, ``output_repeated_splits_test``: any folder whose name contains train,
dev or test); each clip gives its utterance's audio and frames (``DialogueDataModule``). Face crops (``faces_dir``,
from any face detector): ``<faces_dir>/<split>/dia{D}_utt{U}/*.jpg|png``. A missing or corrupt clip
masks that utterance's audio and visual input and is counted in one warning; the text still trains.

Bad input: a missing column, an unknown emotion or sentiment label or a duplicate (dialogue, utterance) stops with
the file and row; empty utterances and one-utterance dialogues are kept and counted in one warning.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.dialogue import Dialogue, DialogueDataModule, UtteranceMedia
from mmer.data.readers import read_csv
from mmer.data.records import Recording, require_dir

log = logging.getLogger(__name__)
CLIP = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$")
EMOTIONS = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]  # official index order
SENTIMENTS = ["neutral", "positive", "negative"]
COLUMNS = ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"]
SPLITS = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def read_meld_csv(path: Path, labelled: bool = True):
    """One split's CSV as a DataFrame sorted by (Dialogue_ID, Utterance_ID), labels checked. ``labelled=False``
    (``mmer predict``): the Emotion and Sentiment columns may be absent (checked where present)."""
    import pandas as pd

    df = read_csv(path, "MELD CSV", keep_default_na=False, dtype=str)  # labels as written: "0" is not "neutral"
    needed = COLUMNS if labelled else [c for c in COLUMNS if c not in ("Emotion", "Sentiment")]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; found {list(df.columns)}. Expected the official MELD "
                        f"header (Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,...)")
    if df.empty:
        raise DataError(f"{path}: a header and no utterance rows; give the split's full CSV")
    for col, names in (("Emotion", EMOTIONS), ("Sentiment", SENTIMENTS)):
        if col not in df.columns:
            continue
        bad = ~df[col].str.strip().str.lower().isin(names)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}, row {i + 2}: unknown {col.lower()} '{df[col].iloc[i]}'; MELD's are {names}")
    for col in ("Dialogue_ID", "Utterance_ID"):
        ids = pd.to_numeric(df[col], errors="coerce")
        bad = ids.isna() | (ids != ids.round())  # 0.5 is no utterance number (and not "utterance 0" twice)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}, row {i + 2}: {col} '{df[col].iloc[i]}' is not an integer")
        df[col] = ids.astype(int)
    dup = df.duplicated(["Dialogue_ID", "Utterance_ID"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"{path}, row {i + 2}: dialogue {df['Dialogue_ID'].iloc[i]} utterance "
                        f"{df['Utterance_ID'].iloc[i]} appears twice")
    return df.sort_values(["Dialogue_ID", "Utterance_ID"], kind="stable").reset_index(drop=True)


def find_clips(root: Path) -> dict[tuple[str, int, int], Path]:
    """{(split, dialogue, utterance): clip} for every ``dia{D}_utt{U}.mp4`` under root; the split comes from the
    folder's name (train / dev / test), since dialogue ids restart per split."""
    import os

    clips = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".mmer_cache")
        names = [f for f in files if CLIP.match(f)]
        if not names:
            continue
        split = next((s for s in ("train", "dev", "test") if s in Path(folder).name.lower()), None)
        if split is None:
            raise DataError(f"{folder}: holds MELD clips but its name says no split (train, dev or test); use the "
                            f"release's folder names (train_splits, dev_splits_complete, output_repeated_splits_test)")
        for name in names:
            d, u = (int(g) for g in CLIP.match(name).groups())
            clips[(split, d, u)] = Path(folder) / name
    log.info("meld: %d clips under %s", len(clips), root)
    return clips


class MeldDataModule(DialogueDataModule):
    """Args: root: folder with the CSVs (``DATA_DIR``). The rest as :class:`~mmer.data.dialogue.DialogueDataModule`
    (``clips=true``: the utterance clips give the modalities ``audio`` and ``visual``). The official split is fixed:
    ``num_folds=1`` with ``fold0_official=true`` (dev = fold 0's validation)."""

    group_unit = "dialogue"

    split_files = True

    split_names = {"train": "train", "val": "dev", "test": "test"}

    def __init__(self, root: str | None = None, **dialogue) -> None:
        dialogue.setdefault("num_folds", 1)
        dialogue.setdefault("fold0_official", True)
        if dialogue["num_folds"] != 1 or not dialogue["fold0_official"]:
            raise ConfigError("MELD uses its official splits: data.num_folds=1 (cv.folds=1) and fold0_official=true")
        super().__init__(**dialogue)
        self.root = root

    def _faces(self, split: str, dialogue: int, utterance: int) -> Path | None:
        """``<faces_dir>/<split>/dia{D}_utt{U}/``: that utterance's face crops (train, dev, test as in the CSVs)."""
        return Path(self.faces_dir) / split / f"dia{dialogue}_utt{utterance}" if self.faces_dir else None

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": EMOTIONS, "sentiment": SENTIMENTS}

    unlabelled_suffixes = (".csv",)

    def add_unlabelled(self, path: Path, faces: Path | None = None, name: str | None = None) -> list[Recording]:
        """A MELD-style CSV of dialogues (Utterance, Speaker, Dialogue_ID, Utterance_ID; labels not needed), for
        text models: one recording ``<name>/dia<D>`` per dialogue (``name``: default the CSV's stem), encoded as in
        training (speaker, context)."""
        if self.clips:
            raise DataError(f"{path}: this model also reads audio and video clips; `mmer predict` reads new "
                            f"dialogues for text models (data.clips=false)")
        df = read_meld_csv(Path(path), labelled=False)
        dialogues = []
        for dialogue, rows in df.groupby("Dialogue_ID", sort=True):
            rec_id, n = f"{name or Path(path).stem}/dia{dialogue}", len(rows)
            if rec_id in self._items:
                raise DataError(f"{path}: dialogue {dialogue} of a file named '{name or Path(path).stem}' is already being "
                                f"predicted; rename one of the files")
            dialogues.append(Dialogue(
                Recording(rec_id, rec_id, n, "predict"), texts=[str(u).strip() for u in rows["Utterance"]],
                speakers=[str(s).strip() for s in rows["Speaker"]],
                targets={t: np.zeros(n, np.int64) for t in self.target_spec()},
                target_masks={t: np.zeros(n, bool) for t in self.target_spec()},
                utterance_ids=[f"utt{u}" for u in rows["Utterance_ID"].astype(int)]))
        recordings = self._encode(dialogues)
        longest = max(r.num_frames for r in recordings)
        self.window = self.hop = max(self.window, longest)
        return recordings

    def dialogues(self) -> list[Dialogue]:
        root = Path(require_dir(self.root, "meld"))
        frames = {}
        for split, name in SPLITS.items():
            if (root / name).is_file():
                frames[split] = read_meld_csv(root / name)
            elif split != "test":
                raise DataError(f"meld: {root / name} is missing; DATA_DIR must hold train_sent_emo.csv and "
                                f"dev_sent_emo.csv (test_sent_emo.csv is optional)")
        clip_files = find_clips(root) if self.clips else {}
        if self.clips and not clip_files:
            raise DataError(f"meld: data.clips=true but there is no dia<D>_utt<U>.mp4 under {root}; unpack MELD.Raw "
                            f"there or set data.clips=false (text only)")
        out = []
        for split, df in frames.items():
            for dialogue, rows in list(df.groupby("Dialogue_ID", sort=True))[: self.max_dialogues]:
                rec_id, n = f"{split}/dia{dialogue}", len(rows)
                utterances = rows["Utterance_ID"].astype(int).tolist()
                clips = [clip_files.get((split, int(dialogue), u)) for u in utterances]
                labels = {"emotion": rows["Emotion"].str.strip().str.lower().map(EMOTIONS.index),
                          "sentiment": rows["Sentiment"].str.strip().str.lower().map(SENTIMENTS.index)}
                out.append(Dialogue(
                    Recording(rec_id, rec_id, n, "test" if split == "test" else "trainval", official_val=split == "dev"),
                    texts=[str(u).strip() for u in rows["Utterance"]], speakers=[str(s).strip() for s in rows["Speaker"]],
                    targets={k: v.to_numpy(np.int64) for k, v in labels.items()},
                    target_masks={k: np.ones(n, bool) for k in labels},
                    media=[UtteranceMedia(c, c, faces=self._faces(split, dialogue, u)) for c, u in zip(clips, utterances)],
                    utterance_ids=[f"utt{u}" for u in utterances]))
        return out
