"""MELD: emotion recognition in conversation, one item = one whole dialogue (``../shared/DATASETS.md``).

Reads ``{train,dev,test}_sent_emo.csv`` exactly as shipped (UTF-8, quoted ``"hh:mm:ss,ms"`` times, utterance-id
gaps, dialogue ids restarting per split): recordings are keyed ``<split>/dia<D>``, utterances sorted by
``Utterance_ID``. The utterance is the time step ("frame") of the windowed machinery: one window = one whole
dialogue, padded to the longest dialogue with masks. Targets per utterance: ``emotion`` (7 classes, in the
official order neutral, surprise, fear, sadness, joy, disgust, anger) and ``sentiment`` (neutral, positive,
negative). Splits are the official ones: train is trained on, dev selects the checkpoint (fold 0's validation),
test (if its CSV is present) is the held-out partition; ``split_names`` makes the summary say train/dev/test.

Text: each utterance is tokenised once with the encoder's own tokenizer (``tokenizer``, default the packaged
MiniLM), optionally prefixed by its speaker's name (``speaker_in_text``: "Phoebe: Oh my God..."), cut at
``max_tokens``. The modality ``text`` holds (T, max_tokens) int64 ids, 0 = padding.
Audio/visual clips (``dia{D}_utt{U}.mp4``) are not read yet: MELD runs text-only here.

Bad input: a missing column, an unknown emotion or sentiment label or a duplicate (dialogue, utterance) stops with
the file and row; empty utterances and one-utterance dialogues are kept and counted in one warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_modules.base import Item, ModalitySpec, Recording, WindowedDataModule, require_dir
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


class MeldDataModule(WindowedDataModule):
    """Args (besides :class:`~data_modules.base.FoldedDataModule`'s loader settings):
    root: folder with the CSVs (``DATA_DIR``). tokenizer: encoder folder or packaged name (``minilm``).
    max_tokens: tokens per utterance (longer ones are cut). speaker_in_text: prefix utterances with the speaker.
    max_dialogues: use only the first N dialogues of each split (quick trials and tests; null = all).
    """

    split_names = {"train": "train", "val": "dev", "test": "test"}

    def __init__(self, root: str | None = None, tokenizer: str = "minilm", max_tokens: int = 64,
                 speaker_in_text: bool = True, max_dialogues: int | None = None, **folded) -> None:
        folded.setdefault("num_folds", 1)
        folded.setdefault("fold0_official", True)
        if folded["num_folds"] != 1 or not folded["fold0_official"]:
            raise ConfigError("MELD uses its official splits: data.num_folds=1 (cv.folds=1) and fold0_official=true")
        super().__init__(window=1, hop=1, **folded)  # the window becomes the longest dialogue at index time
        self.root, self.tokenizer, self.max_tokens = root, tokenizer, max_tokens
        self.speaker_in_text, self.max_dialogues = speaker_in_text, max_dialogues
        self._items: dict[str, Item] = {}
        self._recordings: list[Recording] = []

    def input_spec(self) -> dict[str, ModalitySpec]:
        return {"text": ModalitySpec("tokens", self.max_tokens)}

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": EMOTIONS, "sentiment": SENTIMENTS}

    def index(self) -> list[Recording]:
        if not self._recordings:
            self._recordings = self._read()
            self.window = self.hop = max(r.num_frames for r in self._recordings)
        return self._recordings

    def _read(self) -> list[Recording]:
        from transformers import AutoTokenizer

        from mmer.backbones.text import resolve_encoder_path

        root = Path(require_dir(self.root, "meld"))
        frames = {}
        for split, name in SPLITS.items():
            if (root / name).is_file():
                frames[split] = read_meld_csv(root / name)
            elif split != "test":
                raise DataError(f"meld: {root / name} is missing; DATA_DIR must hold train_sent_emo.csv and "
                                f"dev_sent_emo.csv (test_sent_emo.csv is optional)")
        tok = AutoTokenizer.from_pretrained(str(resolve_encoder_path(self.tokenizer)), local_files_only=True)
        recordings, empty, single = [], 0, 0
        for split, df in frames.items():
            dialogues = list(df.groupby("Dialogue_ID", sort=True))[: self.max_dialogues]
            for dialogue, rows in dialogues:
                texts = [str(u).strip() for u in rows["Utterance"]]
                empty += sum(not t for t in texts)
                single += len(texts) == 1
                if self.speaker_in_text:
                    texts = [f"{str(s).strip()}: {t}" for s, t in zip(rows["Speaker"], texts)]
                ids = tok(texts, max_length=self.max_tokens, truncation=True, padding="max_length")["input_ids"]
                rec_id = f"{split}/dia{dialogue}"
                n = len(texts)
                self._items[rec_id] = Item(
                    inputs={"text": np.asarray(ids, np.int64)},
                    targets={"emotion": rows["Emotion"].str.strip().str.lower().map(EMOTIONS.index).to_numpy(np.int64),
                             "sentiment": rows["Sentiment"].str.strip().str.lower().map(SENTIMENTS.index)
                             .to_numpy(np.int64)},
                    target_masks={"emotion": np.ones(n, bool), "sentiment": np.ones(n, bool)})
                recordings.append(Recording(rec_id, rec_id, n, "test" if split == "test" else "trainval",
                                            official_val=split == "dev"))
        counts = {s: sum(r.id.startswith(s + "/") for r in recordings) for s in frames}
        log.info("meld: dialogues per split %s; %d utterances", counts, sum(r.num_frames for r in recordings))
        if empty or single:
            log.warning("meld: %d empty utterances (kept, encoded as empty text) and %d one-utterance dialogues",
                        empty, single)
        return recordings

    def load(self, rec: Recording) -> Item:
        return self._items[rec.id]
