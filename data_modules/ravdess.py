"""RAVDESS (Livingstone and Russo, 2018): acted speech and song, one clip = one sample, labels in the file name
(:mod:`mmer.data_modules.ravdess_files`). The release is read in place: ``Actor_XX/*.wav`` (audio-only) and, where
present, ``Actor_XX/*.mp4`` (audio-video 01 and video-only 02).

Tasks (``task``): ``emotion`` (8 classes; ``calm=neutral`` merges calm into neutral, ``calm=drop`` leaves calm
clips out), ``intensity`` (normal / strong; neutral clips have none and are left out), ``both`` (two heads).
``vocal_channel``: speech, song or both. Folds are grouped by actor (``cv.folds=5`` or ``loso``); ``test_actors``
makes those actors the held-out partition that every fold predicts and the CV table scores (fold soft vote).

Modalities (any subset, each cached per clip under ``cache_dir``, by default ``~/.cache/mmer/ravdess``, outside
the release: ``$MMER_CACHE_DIR`` moves it):

==============  =============================  ====================================================================
modality        shape per clip                 what
==============  =============================  ====================================================================
``audio``       (S,) float32, S = seconds sr   the mono waveform (stereo files are averaged), zero-padded, masked
``logmel``      (T, n_mels (x3 with deltas))   log-mel, 25 ms window, ``hop_ms`` hop (10 ms); T = S / hop + 1
``mfcc``        (T, 39)                        13 MFCCs with deltas and delta-deltas on the same hop
``egemaps_lld`` (T_e, 25)                      eGeMAPS v02 low-level descriptors (openSMILE, 10 ms hop)
``egemaps``     (1, 88)                        eGeMAPS v02 functionals of the whole clip (openSMILE)
``compare``     (1, 6373)                      ComParE 2016 functionals of the whole clip (openSMILE)
``visual``      (K, 3, size, size) uint8       K frames evenly spaced over an mp4: faces from ``faces_dir``, else
                                               aligned crops of MTCNN's faces when installed (:mod:`mmer.data.faces`;
                                               a frame without a face is black and masked), else the centred square
                                               (RAVDESS actors face the camera; ``detector=none`` chooses it)
==============  =============================  ====================================================================

A take with an audio-only file and no mp4 still counts for a model that hears and sees: its visual input is
missing (zeros, mask False: the Batch contract's missing modality), counted in the data report as ``recordings
without visual``. So a copy where some actors have video and the others only their WAVs trains end to end; a
copy where no clip has video is an error.

Clips differ in length (2.9-5.3 s of speech): every time axis is padded to the longest clip found (or ``seconds``)
with mask False, never cut: a clip longer than ``seconds`` is bad input naming the file. ``normalise``:
``utterance`` z-scores each clip's frame features over its own valid frames (per dimension), ``speaker``
z-scores with the statistics of the clip's actor when that actor is in the active fold's training split and with
the pooled training actors' statistics otherwise (never with the statistics of an actor being scored), ``none``
keeps raw values. It applies to the frame features and the functionals, not to the waveform.

Bad input: a file name off the scheme, an unknown code, a folder that disagrees with the name's actor, an
unreadable or truncated file: an error naming the file, or with ``on_bad_input=skip`` left out and counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.cache import FeatureCache, cache_key, default_cache_dir
from mmer.data.extraction import ExtractedDataset, Extraction
from mmer.data.faces import mtcnn_detector, spaced_faces
from mmer.data.media import MEDIA_TOLERANCE, read_face_set
from mmer.data.perturb import SourceNoise
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data.speech import FUNCTIONALS, clip_seconds, frame_features, functionals, read_speech
from mmer.data_modules.ravdess_files import (
    EMOTIONS,
    INTENSITIES,
    Clip,
    clip_durations,
    clip_targets,
    discover,
    one_per_take,
    parse_clip,
)

log = logging.getLogger(__name__)
EXTRACTION_VERSION = 1
FRAME_FEATURES = ("logmel", "mfcc", "egemaps_lld")
AUDIO_MODALITIES = ("audio", *FRAME_FEATURES, *FUNCTIONALS)
MODALITIES = (*AUDIO_MODALITIES, "visual")
TASKS = ("emotion", "intensity", "both")
CALM = ("keep", "neutral", "drop")
CHANNELS = ("speech", "song", "both")
NORMALISE = ("utterance", "speaker", "none")


class RavdessDataModule(ExtractedDataset, SampleDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s):
    root: the release (``DATA_DIR``), ``Actor_XX`` folders, never written to. cache_dir: the feature cache (default
    :func:`~mmer.data.cache.default_cache_dir`).
    task, calm, vocal_channel: see the module docstring. test_actors: actor numbers held out of every fold.
    actors: read only these actors (null: all found), e.g. a quick run on a few.
    modalities: any of audio, logmel, mfcc, egemaps_lld, egemaps, compare, visual. sample_rate: of the waveform (Hz).
    seconds: the padded clip length (null: the longest clip found). n_mels, deltas, hop_ms: log-mel settings.
    normalise: utterance | speaker | none. frames, frame_size, faces_dir, detector: the visual modality.
    on_bad_input: ``error`` or ``skip``. media_tolerance: the share of a file's promised length that may be missing.
    """

    group_unit = "actor"

    def __init__(self, root: str | None = None, cache_dir: str | None = None,
                 task: Literal["emotion", "intensity", "both"] = "emotion",
                 calm: Literal["keep", "neutral", "drop"] = "keep",
                 vocal_channel: Literal["speech", "song", "both"] = "speech", test_actors: Sequence[int] = (),
                 actors: Sequence[int] | None = None,
                 modalities: Sequence[str] = ("audio",), sample_rate: int = 16000, seconds: float | None = None,
                 n_mels: int = 64, deltas: bool = False, hop_ms: float = 10.0,
                 normalise: Literal["utterance", "speaker", "none"] = "utterance", frames: int = 8,
                 frame_size: int = 64, faces_dir: str | None = None, detector: Literal["mtcnn", "none"] = "mtcnn",
                 on_bad_input: Literal["error", "skip"] = "error", media_tolerance: float = MEDIA_TOLERANCE,
                 **folded) -> None:
        super().__init__(**folded)
        for name, value, choices in (("task", task, TASKS), ("calm", calm, CALM),
                                     ("vocal_channel", vocal_channel, CHANNELS), ("normalise", normalise, NORMALISE)):
            if value not in choices:
                raise ConfigError(f"data.{name}={value!r}: choose one of {list(choices)}")
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise ConfigError(f"data.modalities={list(modalities)}: choose from {list(MODALITIES)}")
        for name, given in (("test_actors", test_actors), ("actors", actors or ())):
            bad_actors = [a for a in given if not (isinstance(a, int) and 1 <= a <= 24)]
            if bad_actors:
                raise ConfigError(f"data.{name}={list(given)}: actors are numbers 1-24 ({bad_actors} are not)")
        if seconds is not None and seconds <= 0 or hop_ms <= 0 or frames < 1:
            raise ConfigError(f"data.seconds={seconds}, data.hop_ms={hop_ms}, data.frames={frames}: need positive values")
        self.root, self.cache_dir = root, cache_dir
        self.task, self.calm, self.vocal_channel = task, calm, vocal_channel
        self.test_actors = sorted(set(test_actors))
        self.actors = sorted(set(actors)) if actors is not None else None
        self.modalities = list(modalities)
        self.sample_rate, self.seconds = sample_rate, seconds
        self.n_mels, self.deltas, self.hop_ms, self.normalise = n_mels, deltas, hop_ms, normalise
        self.frames, self.frame_size, self.faces_dir = frames, frame_size, faces_dir
        if detector not in ("mtcnn", "none"):
            raise ConfigError(f"data.detector={detector!r}: choose mtcnn (when installed) or none (centred square)")
        self.detector = detector
        self.extraction = Extraction("ravdess", "clip", on_bad_input, media_tolerance)
        self.emotions = [e for e in EMOTIONS.values() if not (e == "calm" and calm != "keep")]
        self._clips: dict[str, Clip] = {}
        self._recordings: list[Recording] = []
        self._length_s: float | None = None
        self._bad_names: dict[str, str] = {}
        self._speaker_stats: dict[tuple, dict[str, dict]] = {}
        self._noise: SourceNoise | None = None

    # ------------------------------------------------------------------ what the base asks
    @property
    def cache(self) -> FeatureCache:
        """Features never go into the release: ``cache_dir``, or :func:`~mmer.data.cache.default_cache_dir`."""
        return FeatureCache(self.cache_dir or default_cache_dir("ravdess"))

    @property
    def hop(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    @property
    def length_seconds(self) -> float:
        """The padded clip length: ``seconds``, or the longest clip of the release rounded up to 0.1 s."""
        if self.seconds is not None:
            return float(self.seconds)
        if self._length_s is None:
            self.index()
        return self._length_s

    def input_spec(self) -> dict[str, ModalitySpec]:
        samples = int(math.ceil(self.length_seconds * self.sample_rate))
        steps = samples // self.hop + 1
        spec = {"audio": ModalitySpec("waveform", 1, length=samples),
                "logmel": ModalitySpec("features", self.n_mels * (3 if self.deltas else 1), length=steps),
                "mfcc": ModalitySpec("features", 39, length=steps),
                "egemaps_lld": ModalitySpec("features", 25, length=samples // int(0.01 * self.sample_rate) + 1),
                **{m: ModalitySpec("features", size, length=1) for m, (_, size) in FUNCTIONALS.items()},
                "visual": ModalitySpec("frames", 3, scale=1 / 255, length=self.frames)}
        return {m: spec[m] for m in self.modalities}

    def target_spec(self) -> dict[str, list[str]]:
        spec = {"emotion": self.emotions, "intensity": list(INTENSITIES.values())}
        return {t: spec[t] for t in (("emotion", "intensity") if self.task == "both" else (self.task,))}

    def dataset_report(self) -> dict[str, int]:
        return {"files with a name off the RAVDESS scheme (left out)": len(self._bad_names)}

    # ------------------------------------------------------------------ discovery
    def _wanted(self, clip: Clip) -> bool:
        if self.actors is not None and clip.actor not in self.actors:
            return False
        if self.vocal_channel != "both" and clip.channel != self.vocal_channel:
            return False
        if clip.emotion == "calm" and self.calm == "drop":
            return False
        if self.task == "intensity" and clip.emotion == "neutral":
            return False
        if self._needs_audio and not clip.has_audio:
            return False
        return clip.has_video or "visual" not in self.modalities or self._needs_audio  # else: visual masked

    @property
    def _needs_audio(self) -> bool:
        return bool(self.acoustic_inputs())

    def _discover(self) -> list[Recording]:
        root = Path(require_dir(self.root, "ravdess"))
        suffixes = (".wav", ".mp4") if self._needs_audio else (".mp4",)
        clips, bad = discover(root, suffixes)
        for clip in clips:
            self.data_root().check(clip.path)
        if bad:
            if self.extraction.on_bad_input == "error":
                why = next(iter(bad.values()))
                raise DataError(f"{why} ({len(bad)} such files; rename or remove them, or set data.on_bad_input=skip)")
            self._bad_names = bad
            self.extraction.skipped.update(bad)
        clips = one_per_take([c for c in clips if self._wanted(c)], "visual" in self.modalities)
        if not clips:
            raise DataError(f"ravdess: no clips under {root} for vocal_channel={self.vocal_channel}, task={self.task}, "
                            f"modalities={self.modalities}: expected Actor_XX/MM-VV-EE-II-SS-RR-AA.wav (or .mp4)")
        if "visual" in self.modalities and not any(c.has_video for c in clips):
            raise DataError(f"ravdess: modalities={self.modalities} include visual, but no clip under {root} has video "
                            f"(Actor_XX/01-*.mp4 or 02-*.mp4, the audio-visual release); add it, or drop visual")
        missing = [a for a in self.test_actors if a not in {c.actor for c in clips}]
        if missing:
            raise ConfigError(f"data.test_actors: actors {missing} have no clips under {root}")
        durations = clip_durations(clips, self.extraction, str(root))
        clips = [c for c in clips if c.id in durations]
        self._clips = {c.id: c for c in clips}
        self._length_s = self._longest(durations, clips)
        log.info("ravdess: %d clips of %d actors (%s); %s held out", len(clips), len({c.actor for c in clips}),
                 self.vocal_channel, self.test_actors or "no actors")
        return [Recording(c.id, f"actor{c.actor:02d}", 1, "test" if c.actor in self.test_actors else "trainval")
                for c in clips]

    def _longest(self, durations: dict[str, float], clips: list[Clip]) -> float:
        """The longest clip (header durations), rounded up to 0.1 s; with ``seconds`` set, a longer clip is bad
        input (it would be cut)."""
        longest_id = max(durations, key=durations.get)
        longest = math.ceil(durations[longest_id] * 10 - 1e-6) / 10
        if self.seconds is not None and durations[longest_id] > self.seconds + 1e-3:
            too_long = [k for k, v in durations.items() if v > self.seconds + 1e-3]
            raise ConfigError(f"{self._clips_path(longest_id, clips)}: {durations[longest_id]:.2f} s is longer than "
                              f"data.seconds={self.seconds} ({len(too_long)} clips are); clips are never cut: raise "
                              f"data.seconds or leave it null (the longest clip, {longest} s)")
        return longest

    @staticmethod
    def _clips_path(rec_id: str, clips: list[Clip]) -> Path:
        return next(c.path for c in clips if c.id == rec_id)

    # ------------------------------------------------------------------ loading
    def _load(self, rec: Recording, noise: SourceNoise | None = None) -> Item:
        """The clip's arrays; with ``noise``, its sound with that noise added and every acoustic input computed
        from it afresh (never cached)."""
        clip = self._clips[rec.id]
        inputs, masks = {}, {}
        spec = self.input_spec()
        audio_wanted = self.acoustic_inputs()
        if audio_wanted:
            key = cache_key({"kind": "wave", "sr": self.sample_rate, "v": EXTRACTION_VERSION}, [clip.path])
            wave = self.cache.get_or_build(rec.id, "wave", key, lambda: read_speech(
                clip.path, self.sample_rate, self.extraction.media_tolerance))
            wave = noise.add(wave, rec.id) if noise is not None else wave
            for m in audio_wanted:  # unpadded: the sample loader pads to the spec's length with mask False
                inputs[m] = np.asarray(wave, np.float32) if m == "audio" else self._feature(rec, clip, m, wave,
                                                                                            noise is None)
                if len(inputs[m]) > spec[m].length:
                    raise DataError(f"{clip.path}: {len(wave) / self.sample_rate:.2f} s ({len(inputs[m])} '{m}' steps) "
                                    f"is longer than the padded clip length {self.length_seconds} s ({spec[m].length} "
                                    f"steps); clips are never cut: raise data.seconds")
        if "visual" in self.modalities and clip.has_video:
            inputs["visual"], masks["visual"] = self._visual(rec, clip)
        elif "visual" in self.modalities:  # an audio-only take: the visual modality is missing (Batch contract)
            inputs["visual"] = np.zeros((self.frames, 3, self.frame_size, self.frame_size), np.uint8)
            masks["visual"] = np.zeros(self.frames, bool)
        targets, target_masks = clip_targets(clip, self.target_spec(), self.calm)
        return Item(inputs, targets, target_masks, masks)

    def _feature(self, rec: Recording, clip: Clip, m: str, wave: np.ndarray, cached: bool = True) -> np.ndarray:
        def build() -> np.ndarray:
            return functionals(m, wave, self.sample_rate) if m in FUNCTIONALS else frame_features(
                m, wave, self.sample_rate, self.hop, self.n_mels, self.deltas)

        if not cached:
            return build()
        settings = {"kind": m, "sr": self.sample_rate, "v": EXTRACTION_VERSION}
        if m in ("logmel", "mfcc"):
            settings.update(hop=self.hop, n_mels=self.n_mels, deltas=self.deltas)
        return self.cache.get_or_build(rec.id, m, cache_key(settings, [clip.path]), build)

    def _visual(self, rec: Recording, clip: Clip) -> tuple[np.ndarray, np.ndarray]:
        """``frames`` frames evenly spaced over the clip: the crops in ``faces_dir`` when given (present ones only),
        else the detector's face (MTCNN when installed, :mod:`mmer.data.faces`) or the centred square."""
        if self.faces_dir:
            faces, _ = read_face_set(Path(self.faces_dir) / clip.id, self.frames, self.frame_size)
            present = faces.reshape(len(faces), -1).any(1)
            if present.any():
                return faces, present
        detect = self._face_detector()
        key = cache_key({"kind": "frames", "size": self.frame_size, "k": self.frames, "detector": detect is not None,
                         "crop": "aligned", "v": EXTRACTION_VERSION}, [clip.path])

        def build() -> np.ndarray:
            return spaced_faces(clip.path, self.frames, self.frame_size, detect, self.extraction.media_tolerance)

        frames = self.cache.get_or_build(rec.id, "frames", key, build)
        present = frames.reshape(len(frames), -1).any(1) if detect else np.ones(len(frames), bool)
        return frames, present

    def _face_detector(self):
        """MTCNN when ``detector=mtcnn`` and facenet-pytorch is installed (once per data module), else None: the
        centred square (RAVDESS actors face the camera), with one warning."""
        if self.detector == "none":
            return None
        if not hasattr(self, "_detect"):
            self._detect = mtcnn_detector()
            if self._detect is None:
                log.warning("ravdess: no face detector (pip install --no-deps facenet-pytorch gives MTCNN): the "
                            "visual input is each frame's centred square")
        return self._detect

    def acoustic_inputs(self) -> tuple[str, ...]:
        return tuple(m for m in self.modalities if m in AUDIO_MODALITIES)

    def noise_at_source(self, noise: SourceNoise | None) -> None:
        self._noise = noise

    def load(self, rec: Recording) -> Item:
        """The clip's arrays, normalised as ``normalise`` says (speaker statistics from the active fold's training
        actors only); a clip that :meth:`noise_at_source` names is loaded with that noise in its sound."""
        noise = self._noise
        item = self._load(rec, noise) if noise is not None and rec.id in noise.recordings else super().load(rec)
        if self.normalise == "none":
            return item
        inputs = dict(item.inputs)
        for m in inputs:
            if m in FRAME_FEATURES or m in FUNCTIONALS:
                inputs[m] = self._normalised(rec, m, np.asarray(inputs[m], np.float32), item.input_masks.get(m))
        return Item(inputs, item.targets, item.target_masks, item.input_masks)

    def _normalised(self, rec: Recording, m: str, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if self.normalise == "utterance":
            if m in FUNCTIONALS:  # one vector per clip: nothing to standardise over
                return x
            valid = x[mask] if mask is not None else x
            return (x - valid.mean(0)) / (valid.std(0) + 1e-5)
        stats = self.speaker_statistics(m)
        mean, std = stats.get(rec.group, stats["pooled"])
        return (x - mean) / std

    def speaker_statistics(self, m: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{actor group: (mean (D,), std (D,))} of modality ``m`` over each training actor's clips in the active fold,
        and ``"pooled"``: over all of them, which every actor outside the training split (validation, held-out) gets.
        Memoised per fold."""
        train = self.split("train") if self.recordings else []
        key = (m, tuple(r.id for r in train))
        if key not in self._speaker_stats:
            if not train:
                raise DataError("ravdess: normalise=speaker needs the folds (call setup first)")
            rows: dict[str, list[np.ndarray]] = {}
            for r in train:
                item = super().load(r)
                x = np.asarray(item.inputs[m], np.float64)
                rows.setdefault(r.group, []).append(x.reshape(len(x), -1))
            stats = {g: (np.concatenate(v).mean(0), np.concatenate(v).std(0) + 1e-5) for g, v in rows.items()}
            everything = np.concatenate([np.concatenate(v) for v in rows.values()])
            stats["pooled"] = (everything.mean(0), everything.std(0) + 1e-5)
            self._speaker_stats[key] = {g: (a.astype(np.float32), b.astype(np.float32)) for g, (a, b) in stats.items()}
        return self._speaker_stats[key]

    # ------------------------------------------------------------------ mmer predict
    unlabelled_suffixes = (".wav", ".mp4")

    def add_unlabelled(self, path: Path, faces: Path | None = None, name: str | None = None) -> list[Recording]:
        """A new clip (any wav, or an mp4 for a model with ``visual``) -> one recording, read as training clips are;
        a RAVDESS name is not needed (its labels are ignored). ``name``: the recording's name (default: the stem)."""
        path = Path(path)
        try:
            clip = parse_clip(path, check_folder=False)
        except DataError:
            clip = Clip(path, "audio-only" if path.suffix.lower() == ".wav" else "audio-video", "speech", "neutral",
                        "normal", 1, 1, 0)
        rec_id = f"new/{name or path.stem}"
        if rec_id in self._clips:
            raise DataError(f"{path}: a clip named '{name or path.stem}' is already being predicted; rename one of the "
                            f"files")
        seconds = clip_seconds(path)
        if self.seconds is None:  # padded to the longest clip predicted so far: masked steps change nothing
            self._length_s = max(self._length_s or 0.0, math.ceil(seconds * 10 - 1e-6) / 10)
        elif seconds > self.seconds + 1e-3:
            raise DataError(f"{path}: {seconds:.2f} s is longer than data.seconds={self.seconds} of this model; "
                            f"clips are never cut: cut it into parts first")
        self._clips[rec_id] = clip
        return [Recording(rec_id, rec_id, 1, "predict")]
