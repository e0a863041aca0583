"""Aff-Wild2 valence/arousal (ABAW VA track) from the owners' on-disk layout (docs/reference/datasets.md).

Recordings are the annotation files; ``<video>_left`` / ``<video>_right`` share one raw video (and its audio) and
one fold group. The official Train_Set is the cross-validated partition and the official Validation_Set is the
held-out partition that every fold predicts (test labels are not public).

Per video, a cache (``cache_dir`` or ``<root>/.mmer_cache``) holds (see :mod:`mmer.data.cache`):

- ``faces``: (N, 3, face_size, face_size) uint8 face crops; a missing crop is a black frame and its visual mask
  is False (unreadable JPEGs are treated the same, counted and reported);
- ``logmel``: (N, n_mels) log-mel rows of the 16 kHz mono soundtrack aligned to video frames (row = round(t / hop)),
  the ``audio`` modality; with ``mfcc=True`` also ``mfcc``: (N, 39) MFCCs with deltas, the ``mfcc`` modality;
  with ``egemaps=True`` also ``egemaps``: (N, 25) eGeMAPS v02 low-level descriptors (openSMILE);
- ``meta``: [fps, video frame count] used to check that the annotation has one line per video frame.

Frames labelled -5 stay on the time axis with target mask False.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.core.io import atomic_write_text
from mmer.data.cache import cache_key
from mmer.data.embeddings import build_frozen, describe, embed_recording
from mmer.data.extraction import ExtractedDataset, Extraction
from mmer.data.media import (
    MEDIA_TOLERANCE,
    decode_audio,
    egemaps_per_frame,
    logmel_per_frame,
    mfcc_per_frame,
    no_sound,
    read_face_crops,
    video_info,
)
from mmer.data.paths import plain_name
from mmer.data.readers import read_text
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.windowed import WindowedDataModule
from mmer.data_modules.affwild2_files import (
    AU_NAMES,
    EXPR_CLASSES,
    find_challenge,
    find_crops,
    find_videos,
    raw_video_id,
    read_au_file,
    read_expr_file,
    read_va_file,
)

log = logging.getLogger(__name__)
EXTRACTION_VERSION = 2  # 2: truncated soundtracks are refused (caches of 1 may hold them)


@dataclass(frozen=True)
class Track:
    folder: str  # the challenge folder, found by name
    names: list[str]  # target dimension / class / unit names
    kind: str  # "regression", "class" or "labels"
    read: Callable[[Path], tuple[np.ndarray, np.ndarray]]


def _unlabelled(track: Track, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels of a video that a track does not annotate: zeros, all masked."""
    if track.kind == "class":
        return np.zeros(n, np.int64), np.zeros(n, bool)
    return np.zeros((n, len(track.names)), np.float32), np.zeros(n, bool)


TRACKS = {
    "va": Track("VA_Estimation_Challenge", ["valence", "arousal"], "regression", read_va_file),
    "expr": Track("EXPR_Classification_Challenge", EXPR_CLASSES, "class", read_expr_file),
    "au": Track("AU_Detection_Challenge", AU_NAMES, "labels", read_au_file),
}


class AffWild2DataModule(ExtractedDataset, WindowedDataModule):
    """Args (besides :class:`~mmer.data.base.WindowedDataModule`'s):
    root: the Aff-Wild2 copy (``DATA_DIR``). cache_dir: where extracted arrays go (default ``<root>/.mmer_cache``).
    face_size: side of the cached face crops. sample_rate, n_mels: audio features. mel_rate: log-mel rows per
    video frame (1: one row per frame; 4 at 25 fps: a 10 ms hop, what a per-sub-clip spectrogram CNN needs).
    frame_count_tolerance: allowed |annotation lines - video frames| before it is an error.
    mfcc: also extract the 39-d MFCC modality ``mfcc`` (LFAN's second audio follower).
    egemaps: also extract the 25 eGeMAPS low-level descriptors (openSMILE) as the modality ``egemaps``.
    tracks: annotation tracks to read as targets: ``va`` (valence/arousal), ``expr`` (8 expression classes per
    frame), ``au`` (12 action units per frame). The first track's annotation files define the recordings and the
    Train/Validation partitions; a later track's labels are attached where that video has a file (else masked).
    layout: ``train_folds`` (Train_Set is folded, Validation_Set is the held-out partition every fold predicts and
    that is scored) or ``trainval_folds`` (the leader-follower layout: Train_Set and Validation_Set are folded
    together and Validation_Set is fold 0; needs ``fold0_official=true``).
    test_list: a file of test video ids (one per line): held out, predicted, written in the ABAW format, not scored.
    on_bad_input: ``error`` (default) stops at an unreadable/truncated video or an annotation whose line count
    disagrees with the video; ``skip`` leaves such recordings out, counted and reported.
    media_tolerance: the fraction of the soundtrack that may be missing: it must last what the file's header
    promises and the annotation's frames / fps (a video cut short keeps its header), else the video is bad input.
    embed: ``{modality: frozen backbone factory}``: run that backbone once per recording into the cache and serve
    its tokens as the modality (512-d features, one per sub-clip; :mod:`mmer.data.embeddings`). The model then
    uses the ``identity`` backbone for it, and windows start on the sub-clip grid.
    """

    group_unit = "raw video (one person's footage)"

    def __init__(self, root: str | None = None, cache_dir: str | None = None, face_size: int = 48,
                 sample_rate: int = 16000, n_mels: int = 64, mel_rate: int = 1, frame_count_tolerance: int = 0,
                 mfcc: bool = False, egemaps: bool = False, tracks: tuple[str, ...] = ("va",),
                 layout: str = "train_folds", test_list: str | None = None,
                 on_bad_input: str = "error", media_tolerance: float = MEDIA_TOLERANCE,
                 embed: dict[str, Any] | None = None, **base) -> None:
        super().__init__(**base)
        self.root, self.cache_dir = root, cache_dir
        self.face_size, self.sample_rate, self.n_mels, self.mel_rate = face_size, sample_rate, n_mels, mel_rate
        self.frame_count_tolerance = frame_count_tolerance
        self.mfcc, self.egemaps = mfcc, egemaps
        self.embed = dict(embed or {})
        self._embedders: dict[str, Any] = {}
        self._files: dict[str, dict[str, Path | None]] = {}
        if not tracks or any(t not in TRACKS for t in tracks):
            raise ConfigError(f"data.tracks={list(tracks)}: choose from {sorted(TRACKS)} (the first one sets the "
                              f"recordings and partitions)")
        self.tracks = list(tracks)
        if layout not in ("train_folds", "trainval_folds"):
            raise ConfigError(f"data.layout={layout!r}: choose 'train_folds' or 'trainval_folds'")
        if layout == "trainval_folds" and not self.fold0_official:
            raise ConfigError("data.layout=trainval_folds makes Validation_Set fold 0: set data.fold0_official=true")
        self.layout, self.test_list = layout, test_list
        self._labels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # video -> track -> labels
        self._unreadable_crops = 0
        self._recordings: list[Recording] = []
        self.extraction = Extraction("affwild2", "recording", on_bad_input, media_tolerance)

    def input_spec(self) -> dict[str, ModalitySpec]:
        spec = self._raw_spec()
        for m, backbone in self.embedders().items():
            spec[m] = ModalitySpec("features", backbone.out_dim, 1, span=backbone.frames_per_token(spec[m].rate))
        return spec

    def _raw_spec(self) -> dict[str, ModalitySpec]:
        spec = {"visual": ModalitySpec("frames", 3, 1, scale=1 / 255),
                "audio": ModalitySpec("features", self.n_mels, self.mel_rate)}
        if self.mfcc:
            spec["mfcc"] = ModalitySpec("features", 39)
        if self.egemaps:
            spec["egemaps"] = ModalitySpec("features", 25)
        return spec

    def embedders(self) -> dict[str, Any]:
        """The frozen backbones of ``embed``, built once."""

        raw = self._raw_spec()
        for m, factory in self.embed.items():
            if m not in raw:
                raise ConfigError(f"data.embed.{m}: affwild2 has no modality '{m}' (it has {sorted(raw)})")
            if m not in self._embedders:
                self._embedders[m] = build_frozen(factory, m, raw[m].dim)
        return self._embedders

    def target_spec(self) -> dict[str, list[str]]:
        return {t: TRACKS[t].names for t in self.tracks}

    def _discover(self) -> list[Recording]:
        root = Path(require_dir(self.root, "affwild2"))
        primary = TRACKS[self.tracks[0]]
        splits = find_challenge(root, primary.folder)
        if not splits:
            raise DataError(f"affwild2: no {primary.folder}/{{Train_Set,Validation_Set}} folder under {root}")
        videos = find_videos(root, exclude=self.cache.root)
        crops = find_crops(root)
        log.info("affwild2: annotations %s; %d raw videos; face crops in %s",
                 {k: str(v) for k, v in splits.items()}, len(videos), crops)
        recordings, seen = [], {}
        for split, folder in sorted(splits.items()):
            for txt in sorted(folder.glob("*.txt")):
                video, raw = txt.stem, raw_video_id(txt.stem)
                if video in seen:  # trained on in one partition and scored as held-out in the other: a leak
                    self._leak(video, seen[video], txt)
                    recordings = [r for r in recordings if r.id != video]
                    continue
                seen[video] = txt
                if raw not in videos:
                    raise DataError(f"{txt}: no raw video '{raw}.mp4' or '{raw}.avi' under {root} (needed for audio)")
                values, labelled = primary.read(txt)
                self._labels[video] = {self.tracks[0]: (values, labelled)}
                inside = self.data_root().check
                self._files[video] = {"annotation": inside(txt), "video": inside(videos[raw]),
                                      "crops": inside(crops / video) if crops is not None else None}
                if self.layout == "trainval_folds":  # LFAN: Train and Validation are folded, Validation is fold 0
                    recordings.append(Recording(video, raw, len(values), "trainval", official_val=split != "train"))
                else:
                    recordings.append(Recording(video, raw, len(values), "trainval" if split == "train" else "test"))
        if not recordings:
            raise DataError(f"affwild2: the {primary.folder} folders under {root} hold no .txt files")
        for name in self.tracks[1:]:
            self._attach_track(root, name, recordings)
        if self.test_list:
            recordings += self._unlabelled_test(Path(self.test_list), videos, crops)
        return recordings

    def _leak(self, video: str, first: Path, second: Path) -> None:
        """A video annotated in two partitions: an error, or (``on_bad_input=skip``) left out of both, counted."""
        why = (f"{second}: video '{video}' is also annotated in {first}; a recording in two partitions would be "
               "trained on and scored as held-out. Remove one of the two files")
        self.extraction.refuse(video, why)
        log.warning("affwild2: %s (left out of both: data.on_bad_input=skip)", why)

    def _unlabelled_test(self, listing: Path, videos: dict[str, Path], crops: Path | None) -> list[Recording]:
        """The challenge's test videos (one id per line of ``listing``): held out, predicted by every fold, written
        as submission files, never scored (their labels are not public). Frame counts come from the videos."""
        if not listing.is_file():
            raise DataError(f"data.test_list: '{listing}' does not exist; give the challenge's test-set list "
                            f"(one video id per line) or test_list=null")
        lines = [(n, line.strip()) for n, line in enumerate(read_text(listing, "test-set list").splitlines(), 1)]
        first: dict[str, int] = {}
        for n, video in lines:
            if video and first.setdefault(video, n) != n:
                raise DataError(f"{listing}:{n}: test video '{video}' is listed again (first on line {first[video]})")
        ids = list(first)
        out = []
        for video in ids:
            raw = raw_video_id(plain_name(video, str(listing)))
            if raw not in videos:
                raise DataError(f"{listing}: test video '{video}' has no raw video '{raw}.mp4|.avi' under {self.root}")
            if video in self._files:
                raise DataError(f"{listing}: '{video}' is also annotated in the training/validation data")
            inside = self.data_root().check
            out.append(self._unlabelled_video(video, inside(videos[raw]),
                                              inside(crops / video) if crops is not None else None, "test"))
        log.info("affwild2: %d unlabelled test videos from %s (predicted, not scored)", len(out), listing)
        return out

    def _unlabelled_video(self, video: str, path: Path, crops: Path | None, partition: str) -> Recording:
        """A recording of ``path`` without labels (every track masked), its frame count from the video."""
        self._files[video] = {"annotation": None, "video": path, "crops": crops}
        _, count = self._video_meta(path, raw_video_id(video))
        self._labels[video] = {t: _unlabelled(TRACKS[t], count) for t in self.tracks}
        return Recording(video, raw_video_id(video), count, partition)

    unlabelled_suffixes = (".mp4", ".avi", ".mkv", ".webm", ".mov")

    def frame_rate(self, rec: Recording) -> float:
        return self._video_meta(self._files[rec.id]["video"], rec.group)[0]

    def add_unlabelled(self, path: Path, faces: Path | None = None, name: str | None = None) -> list[Recording]:
        """A raw video (``mmer predict``) named ``name`` (default: its stem): the soundtrack's features as in
        training, face crops from ``faces/<name>/00001.jpg...`` (the cropped_aligned layout) where given, else every
        frame's face masked; a video without a soundtrack predicts from its faces, audio masked."""
        path = Path(path)
        if path.suffix.lower() not in self.unlabelled_suffixes:
            raise DataError(f"{path}: Aff-Wild2 models predict from videos ({', '.join(self.unlabelled_suffixes)})")
        video = name or path.stem
        if video in self._files:
            raise DataError(f"{path}: a video named '{video}' is already being predicted; rename one of them")
        crops = Path(faces) / video if faces is not None else None
        return [self._unlabelled_video(video, path, crops, "predict")]

    def _attach_track(self, root: Path, name: str, recordings: list[Recording]) -> None:
        """Labels of a secondary track for every recording: its file if it has one (same frame count), else masked."""
        track = TRACKS[name]
        folders = find_challenge(root, track.folder)
        if not folders:
            raise DataError(f"affwild2: data.tracks has '{name}' but there is no {track.folder}/{{Train_Set,"
                            f"Validation_Set}} folder under {root}")
        files = {txt.stem: txt for folder in folders.values() for txt in sorted(folder.glob("*.txt"))}
        attached = 0
        for rec in recordings:
            if rec.id in files:
                values, labelled = track.read(files[rec.id])
                if len(values) != rec.num_frames:
                    raise DataError(f"{files[rec.id]}: {len(values)} lines but the {self.tracks[0]} annotation of "
                                    f"'{rec.id}' has {rec.num_frames}; both must have one line per frame")
                attached += 1
            else:
                values, labelled = _unlabelled(track, rec.num_frames)
            self._labels[rec.id][name] = (values, labelled)
        log.info("affwild2: %s labels for %d of %d recordings", name, attached, len(recordings))

    def export_predictions(self, out_dir: Path, table: dict[str, np.ndarray], target: str = "va") -> None:
        """ABAW submission files ``out_dir/<video>.txt``, one ``<video>/00001.jpg,...`` row per frame: VA
        ``valence,arousal`` floats; EXPR the class index (argmax); AU 0/1 per unit (probability > 0.5, as scored)."""

        names = TRACKS[target].names
        for video, preds in table.items():
            if target == "va":
                values = [f"{v:.6f},{a:.6f}" for v, a in preds]
                header = "valence,arousal"
            elif target == "expr":
                values = [str(int(c)) for c in preds.argmax(1)]
                header = ",".join(names)
            else:
                values = [",".join(str(int(u)) for u in row) for row in preds > 0.5]
                header = ",".join(names)
            rows = [f"image_location,{header}"] + [f"{video}/{k + 1:05d}.jpg,{v}" for k, v in enumerate(values)]
            atomic_write_text(Path(out_dir) / f"{video}.txt", "\n".join(rows) + "\n")

    def dataset_report(self) -> dict[str, int]:
        """Face crops that exist but cannot be read (masked like a frame without a face, and counted)."""
        return {"unreadable face crops": self._unreadable_crops}

    def _video_meta(self, video: Path, raw: str) -> tuple[float, int]:
        key = cache_key({"kind": "meta", "v": EXTRACTION_VERSION}, [video])
        fps, count = self.cache.get_or_build(raw, "meta", key, lambda: np.asarray(video_info(video), np.float64))
        return float(fps), int(count)

    def _meta(self, rec: Recording) -> tuple[float, int]:
        video = self._files[rec.id]["video"]
        fps, count = self._video_meta(video, raw_video_id(rec.id))
        if abs(int(count) - rec.num_frames) > self.frame_count_tolerance:
            raise DataError(f"{self._files[rec.id]['annotation']}: {rec.num_frames} annotation lines but {video} has "
                            f"{int(count)} frames; the annotation must have one line per frame (or raise "
                            f"data.frame_count_tolerance)")
        return float(fps), int(count)

    def _load(self, rec: Recording) -> Item:
        files = self._files[rec.id]
        fps, _ = self._meta(rec)
        n = rec.num_frames
        crops = files["crops"]
        if files["annotation"] is not None and (crops is None or not any(crops.glob("*.jpg"))):  # a labelled video
            where = f"{crops} is missing or empty" if crops is not None else "there is no cropped_aligned folder"
            raise DataError(f"affwild2: video '{rec.id}' has no face crops ({where}): every frame's face would be "
                            "masked and the model would learn from a blank stream; restore the crops, or set "
                            "data.on_bad_input=skip to leave such videos out")
        face_key = cache_key({"kind": "faces", "size": self.face_size, "n": n, "v": EXTRACTION_VERSION},
                             [crops] if crops is not None and crops.is_dir() else [])

        def faces_and_mask() -> np.ndarray:
            frames, present, unreadable = read_face_crops(crops, n, self.face_size)
            self._unreadable_crops += unreadable
            packed = frames.reshape(n, -1)
            return np.concatenate([packed, present[:, None].astype(np.uint8)], axis=1)  # one file, one rename

        packed = self.cache.get_or_build(rec.id, "faces", face_key, faces_and_mask)
        faces = packed[:, :-1].reshape(n, 3, self.face_size, self.face_size)
        present = packed[:, -1].astype(bool)
        covers = (n / fps, f"{files['annotation']} ({n} frames at {fps:g} fps)")
        wave = functools.cache(lambda: decode_audio(files["video"], self.sample_rate, self.extraction.media_tolerance,
                                                    covers))  # decoded at most once
        masks = {"visual": present}
        if rec.partition == "predict" and no_sound(files["video"], wave):  # a silent new video: faces only
            spec = self._raw_spec()
            inputs = {"visual": faces}
            for m in ("audio", "mfcc", "egemaps"):
                if m in spec:
                    inputs[m] = np.zeros((n * spec[m].rate, spec[m].dim), np.float32)
                    masks[m] = np.zeros(n * spec[m].rate, bool)
        else:
            inputs = {"visual": faces, "audio": self._audio(rec, "logmel", fps, wave, logmel_per_frame,
                                                            self.mel_rate, n_mels=self.n_mels)}
            if self.mfcc:
                inputs["mfcc"] = self._audio(rec, "mfcc", fps, wave, mfcc_per_frame, 1)
            if self.egemaps:
                inputs["egemaps"] = self._audio(rec, "egemaps", fps, wave, egemaps_per_frame, 1)
        for m in self.embed:
            inputs[m], masks[m] = self._embedded(rec, m, inputs[m], masks.get(m), fps)
        labels = self._labels[rec.id]
        return Item(inputs=inputs, targets={t: labels[t][0] for t in self.tracks},
                    target_masks={t: labels[t][1] for t in self.tracks}, input_masks=masks)

    def _embedded(self, rec: Recording, m: str, x: np.ndarray, mask: np.ndarray | None,
                  fps: float) -> tuple[np.ndarray, np.ndarray]:
        """(tokens (n, D), token mask (n,)) of a frozen backbone over the whole recording, from the cache."""

        backbone, spec = self.embedders()[m], self._raw_spec()[m]
        files = self._files[rec.id]
        settings = {"kind": f"emb_{m}", "backbone": describe(self.embed[m]), "face_size": self.face_size, "fps": fps,
                    "sr": self.sample_rate, "n_mels": self.n_mels, "mel_rate": self.mel_rate, "n": rec.num_frames,
                    "v": EXTRACTION_VERSION}
        sources = [files["video"]] + ([files["crops"]] if files["crops"] is not None and files["crops"].is_dir() else [])
        steps = backbone.frames_per_token(spec.rate) * spec.rate
        packed = self.cache.get_or_build(rec.id, f"emb_{m}", cache_key(settings, sources),
                                         lambda: embed_recording(backbone, x, mask, steps, spec.scale))
        return packed[:, :-1], packed[:, -1] > 0

    def _audio(self, rec: Recording, kind: str, fps: float, wave: Callable[[], np.ndarray], extract, rate: int,
               **settings) -> np.ndarray:
        """``rate`` rows per video frame of an audio feature of the raw video (shared by _left/_right), from the
        cache or extracted from ``wave()`` (the decoded soundtrack) at a frame rate of fps * rate."""
        video = self._files[rec.id]["video"]
        key = cache_key({"kind": kind, "sr": self.sample_rate, "fps": fps, "n": rec.num_frames, "rate": rate,
                         "v": EXTRACTION_VERSION, **settings}, [video])
        return self.cache.get_or_build(
            raw_video_id(rec.id), kind, key,
            lambda: extract(wave(), self.sample_rate, fps * rate, rec.num_frames * rate, **settings))
