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
Clips (``clips=true``): ``dia{D}_utt{U}.mp4`` found by name under the root, the split told by the folder name
(``train_splits``, ``dev_splits_complete``, ``output_repeated_splits_test``: any folder whose name contains train,
dev or test). Per utterance the cache holds ``audio``: the first ``clip_seconds`` of 64-mel log spectrogram (10 ms
hop, 16 kHz mono from PyAV; zero-padded), and ``visual``: ``frames_per_clip`` evenly spaced frames, centre square
at ``frame_size``. A missing or corrupt clip masks that utterance's audio and visual input and is counted in one
warning; the text still trains.

Bad input: a missing column, an unknown emotion or sentiment label or a duplicate (dialogue, utterance) stops with
the file and row; empty utterances and one-utterance dialogues are kept and counted in one warning.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from data_modules.base import Item, ModalitySpec, Recording, require_dir
from data_modules.dialogue import Dialogue, DialogueDataModule
from mmer.errors import ConfigError, DataError

log = logging.getLogger(__name__)
CLIP = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$")
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


def clip_features(path: Path, rows: int, n_mels: int, k: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(log-mel (rows, n_mels) of the first rows x 10 ms, zero-padded; k evenly spaced frames (k, 3, size, size))."""
    import torch
    import torchaudio

    from data_modules.media import decode_audio, decode_frames

    wave = decode_audio(path, 16000)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=n_mels)
    spec = torch.log(mel(torch.from_numpy(wave)) + 1e-6).T.numpy()[:rows]
    audio = np.zeros((rows, n_mels), np.float32)
    audio[: len(spec)] = spec
    frames = decode_frames(path, size)
    return audio, frames[np.linspace(0, len(frames) - 1, k).round().astype(int)]


class MeldDataModule(DialogueDataModule):
    """Args: root: folder with the CSVs (``DATA_DIR``). clips: also read the utterance clips (modalities ``audio`` and
    ``visual``). clip_seconds, n_mels: the log-mel per utterance. frames_per_clip, frame_size: the frames per
    utterance. cache_dir: default ``<root>/.mmer_cache``. The rest as
    :class:`~data_modules.dialogue.DialogueDataModule`. The official split is fixed: ``num_folds=1`` with
    ``fold0_official=true`` (dev = fold 0's validation)."""

    split_names = {"train": "train", "val": "dev", "test": "test"}

    def __init__(self, root: str | None = None, clips: bool = False, clip_seconds: float = 3.0,
                 frames_per_clip: int = 4, frame_size: int = 64, n_mels: int = 64, cache_dir: str | None = None,
                 **dialogue) -> None:
        dialogue.setdefault("num_folds", 1)
        dialogue.setdefault("fold0_official", True)
        if dialogue["num_folds"] != 1 or not dialogue["fold0_official"]:
            raise ConfigError("MELD uses its official splits: data.num_folds=1 (cv.folds=1) and fold0_official=true")
        super().__init__(**dialogue)
        self.root, self.clips, self.cache_dir = root, clips, cache_dir
        self.clip_rows, self.frames_per_clip = int(round(clip_seconds * 100)), frames_per_clip
        self.frame_size, self.n_mels = frame_size, n_mels
        self._utterances: dict[str, list[int]] = {}
        self._clip_files: dict[tuple[str, int, int], Path] = {}
        self.bad_clips: dict[str, str] = {}
        self._av: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def input_spec(self) -> dict[str, ModalitySpec]:
        spec = super().input_spec()
        if self.clips:
            spec["audio"] = ModalitySpec("features", self.n_mels)
            spec["visual"] = ModalitySpec("frames", 3, scale=1 / 255)
        return spec

    def prepare_data(self) -> None:
        """Extract every dialogue's clips now (progress bar) and report missing or unreadable clips once."""
        from tqdm.auto import tqdm

        if not self.clips:
            return
        todo = [r for r in self.index() if r.id not in self._av]
        for rec in tqdm(todo, desc="meld: extracting clips", unit="dialogue", disable=not todo):
            self.load(rec)
        if todo and self.bad_clips:
            first = next(iter(self.bad_clips.items()))
            log.warning("meld: %d utterances have no usable clip (audio and visual masked, text kept); first: %s: %s",
                        len(self.bad_clips), *first)

    def load(self, rec: Recording) -> Item:
        item = super().load(rec)
        if not self.clips:
            return item
        if rec.id not in self._av:
            self._av[rec.id] = self._extract_clips(rec)
        audio, frames, ok = self._av[rec.id]
        return Item(inputs={**item.inputs, "audio": audio, "visual": frames}, targets=item.targets,
                    target_masks=item.target_masks, input_masks={"audio": ok, "visual": ok})

    def _extract_clips(self, rec: Recording) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from data_modules.cache import FeatureCache, cache_key

        if not self._clip_files:
            self._clip_files = find_clips(Path(self.root))
            if not self._clip_files:
                raise DataError(f"meld: data.clips=true but there is no dia<D>_utt<U>.mp4 under {self.root}; unpack "
                                f"MELD.Raw there or set data.clips=false (text only)")
        split, dialogue = rec.id.split("/dia")
        paths = [self._clip_files.get((split, int(dialogue), u)) for u in self._utterances[rec.id]]
        settings = {"rows": self.clip_rows, "k": self.frames_per_clip, "size": self.frame_size, "mels": self.n_mels,
                    "v": 1}
        cache = FeatureCache(self.cache_dir or Path(self.root) / ".mmer_cache")
        key = cache_key(settings, [p for p in paths if p is not None])
        n, k, s = len(paths), self.frames_per_clip, self.frame_size

        def build() -> np.ndarray:
            audio = np.zeros((n, self.clip_rows, self.n_mels), np.float32)
            frames = np.zeros((n, k, 3, s, s), np.uint8)
            ok = np.zeros(n, bool)
            for i, path in enumerate(paths):
                if path is None:
                    self.bad_clips[f"{rec.id}/utt{self._utterances[rec.id][i]}"] = "no clip file"
                    continue
                try:
                    audio[i], frames[i] = clip_features(path, self.clip_rows, self.n_mels, k, s)
                    ok[i] = True
                except DataError as exc:
                    self.bad_clips[f"{rec.id}/utt{self._utterances[rec.id][i]}"] = str(exc)
            # one file per dialogue: [audio | frames | ok] as float32 bytes would waste space, so a structured array
            packed = np.zeros(n, dtype=[("audio", np.float32, audio.shape[1:]), ("frames", np.uint8, frames.shape[1:]),
                                        ("ok", bool)])
            packed["audio"], packed["frames"], packed["ok"] = audio, frames, ok
            return packed

        packed = cache.get_or_build(rec.id.replace("/", "_"), "clips", key, build)
        return packed["audio"], packed["frames"], packed["ok"]

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
                self._utterances[rec_id] = rows["Utterance_ID"].astype(int).tolist()
                labels = {"emotion": rows["Emotion"].str.strip().str.lower().map(EMOTIONS.index),
                          "sentiment": rows["Sentiment"].str.strip().str.lower().map(SENTIMENTS.index)}
                out.append(Dialogue(
                    Recording(rec_id, rec_id, n, "test" if split == "test" else "trainval", official_val=split == "dev"),
                    texts=[str(u).strip() for u in rows["Utterance"]], speakers=[str(s).strip() for s in rows["Speaker"]],
                    targets={k: v.to_numpy(np.int64) for k, v in labels.items()},
                    target_masks={k: np.ones(n, bool) for k in labels}))
        return out
