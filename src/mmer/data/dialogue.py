"""Conversation datasets (MELD, IEMOCAP): one item = one whole dialogue, the utterance is the time step.

A subclass lists its dialogues (:meth:`dialogues`); this base tokenises every utterance once with the text
encoder's own tokenizer (optionally prefixed by the speaker: "Phoebe: Oh my God..."), cut at ``max_tokens``, and
serves the modality ``text``: (T, max_tokens) int64 ids, 0 = padding. One window = one whole dialogue, padded to
the longest dialogue with masks, so every utterance is scored exactly once.

Context in the encoder input (``context_before`` / ``context_after`` > 0): utterance i is encoded as

    [CLS] u_i [SEP] u_{i-b} ... u_{i-1} [SEP] u_{i+1} ... u_{i+a} [SEP]        (at most ``max_tokens`` ids)

the utterance itself first and never cut for context (only for ``max_tokens``); the past is cut from its oldest
end and the future from its far end when the budget runs out (each gets half of what u_i leaves, plus what the
other does not use). The text encoder pools over ``[CLS] u_i [SEP]`` only, so the context reaches the utterance's
embedding through attention (``mmer.model.backbones.text.TextEncoder``). MELD and IEMOCAP are scored offline, over whole
recorded dialogues, so the future is available as it is to the dialogue transformer.

Audio and video (``clips=true``; the subclass tells where each utterance's sound and picture are,
:class:`UtteranceMedia`): per utterance the cache holds ``audio``, the first ``clip_seconds`` of 64-mel log
spectrogram (10 ms hop, 16 kHz mono decoded with PyAV, zero-padded), and ``visual``, ``frames_per_clip`` evenly
spaced frames of the utterance's span (centre square at ``frame_size``). A video is decoded once per dialogue even
when its utterances are spans of one long recording (IEMOCAP). With ``faces_dir`` (face crops made by any detector,
one folder per utterance, laid out as the subclass says), ``visual`` is those K scene frames followed by up to
``faces_per_clip`` face crops, all-zero slots meaning no face: (K + F, 3, S, S), read by
``mmer.model.backbones.utterance.UtteranceFacesScene``. A missing or unreadable file masks that utterance's
audio or visual input (each on its own) and is counted in one warning; the text still trains.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.core.weights import resolve_encoder_path
from mmer.data.audio import log_mel
from mmer.data.cache import FeatureCache, cache_key, cache_root
from mmer.data.media import (
    IMAGE_SUFFIXES,
    SLACK_SECONDS,
    check_complete,
    decode_audio,
    decode_frames,
    read_face_set,
    video_info,
)
from mmer.data.records import Item, ModalitySpec, Recording
from mmer.data.windowed import WindowedDataModule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UtteranceMedia:
    """Where an utterance's sound and picture are: ``audio`` and ``video`` files (either may be None = absent), and
    for a video of the whole dialogue the utterance's span ``start``-``end`` in seconds (None: the whole file). The
    span applies to the video, and to the audio when the audio file is that same video."""

    audio: Path | None
    video: Path | None
    start: float | None = None
    end: float | None = None
    faces: Path | None = None  # a folder of this utterance's face crops (any detector's output), if given


@dataclass
class Dialogue:
    """One conversation: utterance texts and speakers in order, per-utterance targets and label masks, and with
    ``clips`` the media of every utterance."""

    recording: Recording
    texts: list[str]
    speakers: list[str]
    targets: dict[str, np.ndarray]
    target_masks: dict[str, np.ndarray]
    media: list[UtteranceMedia] | None = None
    utterance_ids: list[str] | None = None  # names in warnings (default utt0, utt1, ...)


def check_repeats(dialogues: Sequence[Dialogue], dataset: str) -> None:
    """A validation or held-out dialogue that is a training dialogue again (the same speakers saying the same
    lines: a split file copied over another, or overlapping exports) would select checkpoints or report scores on
    what the model trained on: refused, naming an example and how many repeat."""
    def key(d: Dialogue) -> tuple:
        return tuple(zip(d.speakers, d.texts))

    trained = {key(d): d.recording.id for d in dialogues
               if d.recording.partition == "trainval" and not d.recording.official_val}
    scored = [d for d in dialogues if d.recording.partition == "test" or d.recording.official_val]
    repeats = [(d.recording.id, trained[key(d)]) for d in scored if key(d) in trained]
    if repeats:
        raise DataError(f"{dataset}: dialogue {repeats[0][0]} is training dialogue {repeats[0][1]} again "
                        f"({len(repeats)} of {len(scored)} validation / held-out dialogues repeat training ones): "
                        "the splits overlap, so checkpoints would be chosen and scores reported on training data; "
                        "check that each split file is its own")


class DialogueDataModule(WindowedDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s):
    tokenizer: encoder folder or packaged name (``minilm``). max_tokens: tokens per utterance (longer ones are cut).
    speaker_in_text: prefix each utterance with its speaker. context_before / context_after: neighbouring utterances
    of the same dialogue added to each utterance's encoder input (see the module docstring; 0 = the utterance alone).
    max_dialogues: only the first N dialogues of each split or session (quick trials and tests; null = all).
    clips: also serve ``audio`` and ``visual`` per utterance (the module docstring). clip_seconds, n_mels: the
    log-mel per utterance. frames_per_clip, frame_size: the frames per utterance. faces_dir, faces_per_clip: face
    crops per utterance appended to the frames. cache_dir: where the extracted clips are kept (default
    ``<root>/.mmer_cache``).
    """

    #: the splits come from separate files (MELD's train / dev / test CSVs), which may be copies of each other:
    #: checked by :func:`check_repeats`. (IEMOCAP's split by session: two pairs may perform one script.)
    split_files: bool = False

    step_unit = "utterances"
    per_step_predictions = True  # every utterance has its own label: mmer explain explains each one
    explain_time_window = 5

    def __init__(self, tokenizer: str = "minilm", max_tokens: int = 64, speaker_in_text: bool = True,
                 context_before: int = 0, context_after: int = 0, max_dialogues: int | None = None,
                 clips: bool = False, clip_seconds: float = 3.0, frames_per_clip: int = 4, frame_size: int = 64,
                 n_mels: int = 64, faces_dir: str | None = None, faces_per_clip: int = 4, cache_dir: str | None = None,
                 **folded) -> None:
        super().__init__(window=1, hop=1, **folded)  # the window becomes the longest dialogue at index time
        if context_before < 0 or context_after < 0:
            raise ConfigError(f"context_before={context_before}, context_after={context_after}: give counts >= 0")
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.speaker_in_text, self.max_dialogues = speaker_in_text, max_dialogues
        self.context = (context_before, context_after)
        self.clips, self.cache_dir = clips, cache_dir
        self.clip_rows, self.frames_per_clip = int(round(clip_seconds * 100)), frames_per_clip
        self.frame_size, self.n_mels = frame_size, n_mels
        self.faces_dir, self.faces_per_clip = faces_dir, faces_per_clip if faces_dir else 0
        self.bad_clips: dict[str, str] = {}  # "<dialogue>/<utterance>": why its audio or visual input is masked
        self._items: dict[str, Item] = {}
        self._names: dict[str, list[str]] = {}  # utterance ids per dialogue
        self._media: dict[str, tuple[list[str], list[UtteranceMedia]]] = {}
        self._av: dict[str, np.ndarray] = {}
        self._recordings: list[Recording] = []

    def dialogues(self) -> list[Dialogue]:
        raise NotImplementedError

    def step_names(self, rec_id: str) -> list[str]:
        """The utterance ids of a dialogue, in order (``mmer explain``'s records)."""
        return self._names[rec_id]

    @property
    def root_dir(self) -> Path:
        return Path(self.root)

    @property
    def dataset_name(self) -> str:
        return type(self).__name__.removesuffix("DataModule").lower()

    def input_spec(self) -> dict[str, ModalitySpec]:
        spec = {"text": ModalitySpec("tokens", self.max_tokens)}
        if self.clips:
            spec["audio"] = ModalitySpec("features", self.n_mels)
            spec["visual"] = ModalitySpec("frames", 3, scale=1 / 255)
        return spec

    def index(self) -> list[Recording]:
        if not self._recordings:
            self._recordings = self._build()
            self.window = self.hop = max(r.num_frames for r in self._recordings)
        return self._recordings

    def _build(self) -> list[Recording]:
        dialogues = self.dialogues()
        if self.split_files:
            check_repeats(dialogues, self.dataset_name)
        return self._encode(dialogues)

    def _encode(self, dialogues: list[Dialogue]) -> list[Recording]:
        """Tokenise every utterance of ``dialogues`` once (with its context) and register their items."""
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(resolve_encoder_path(self.tokenizer)), local_files_only=True)
        empty = single = 0
        for d in dialogues:
            empty += sum(not t.strip() for t in d.texts)
            single += len(d.texts) == 1
            texts = [f"{s}: {t}" for s, t in zip(d.speakers, d.texts)] if self.speaker_in_text else d.texts
            pieces = tok(texts, add_special_tokens=False)["input_ids"]
            ids = np.zeros((len(texts), self.max_tokens), np.int64)
            for i in range(len(texts)):
                row = with_context(pieces, i, *self.context, self.max_tokens, tok.cls_token_id, tok.sep_token_id)
                ids[i, :len(row)] = row
            self._items[d.recording.id] = Item(inputs={"text": ids}, targets=d.targets, target_masks=d.target_masks)
            names = d.utterance_ids or [f"utt{i}" for i in range(len(texts))]
            self._names[d.recording.id] = names
            if self.clips:
                if d.media is None or len(d.media) != len(texts):
                    raise DataError(f"{self.dataset_name}: dialogue {d.recording.id} has no media list for clips=true")
                self._media[d.recording.id] = (names, d.media)
        name = self.dataset_name
        log.info("%s: %d dialogues, %d utterances", name, len(dialogues), sum(len(d.texts) for d in dialogues))
        if not dialogues:
            raise DataError(f"{name}: no dialogues to read")
        if empty or single:
            log.warning("%s: %d empty utterances (kept, encoded as empty text) and %d one-utterance dialogues",
                        name, empty, single)
        return [d.recording for d in dialogues]

    def loaded_items(self) -> list[Item]:
        return [self.load(r) for r in self._recordings if not self.clips or r.id in self._av]

    def load(self, rec: Recording) -> Item:
        item = self._items[rec.id]
        if not self.clips:
            return item
        if rec.id not in self._av:
            self._av[rec.id] = self._extract_clips(rec)
        av = self._av[rec.id]
        return Item(inputs={**item.inputs, "audio": av["audio"], "visual": av["frames"]}, targets=item.targets,
                    target_masks=item.target_masks,
                    input_masks={"audio": av["audio_ok"], "visual": av["visual_ok"]})

    def prepare_data(self) -> None:
        """Extract every dialogue's clips now (progress bar) and report missing or unreadable media once."""
        from tqdm.auto import tqdm

        if not self.clips:
            return
        name = self.dataset_name
        todo = [r for r in self.index() if r.id not in self._av]
        for rec in tqdm(todo, desc=f"{name}: reading clips", unit="dialogue", disable=not todo):
            self.load(rec)
        if todo and self.bad_clips:  # once per process, whether the clips were read now or come from the cache
            first = next(iter(self.bad_clips.items()))
            log.warning("%s: %d utterances have no usable clip (audio and/or visual masked, text kept); first: %s: %s",
                        name, len(self.bad_clips), *first)

    def _extract_clips(self, rec: Recording) -> np.ndarray:
        """One structured array per dialogue (cached): audio (R, n_mels), frames (K + F, 3, S, S) uint8, two ok
        flags and why an input is missing (also reported when the array comes from the cache)."""

        utterances, media = self._media[rec.id]
        n, k, s, nf = len(media), self.frames_per_clip, self.frame_size, self.faces_per_clip
        settings = {"rows": self.clip_rows, "k": k, "size": s, "mels": self.n_mels, "faces": nf, "v": 4,
                    "spans": [(m.start, m.end) for m in media]}
        files = sorted({str(self.data_root().check(f)) for m in media for f in (m.audio, m.video)
                        if f is not None and Path(f).is_file()})
        if nf:
            files += sorted(str(f) for m in media if m.faces and m.faces.is_dir() for f in m.faces.iterdir()
                            if f.suffix.lower() in IMAGE_SUFFIXES)
        cache = FeatureCache(cache_root(self.cache_dir, self.root_dir, self.dataset_name))

        def build() -> np.ndarray:
            packed = np.zeros(n, dtype=[("audio", np.float32, (self.clip_rows, self.n_mels)),
                                        ("frames", np.uint8, (k + nf, 3, s, s)), ("audio_ok", bool),
                                        ("visual_ok", bool), ("why", "U600")])
            videos: dict[Path, tuple[np.ndarray, float] | DataError] = {}
            for i, m in enumerate(media):
                why = []
                try:
                    span = (m.start, m.end) if m.audio == m.video else (None, None)  # a sentence wav is whole
                    packed["audio"][i] = utterance_logmel(m.audio, *span, self.clip_rows, self.n_mels)
                    packed["audio_ok"][i] = True
                except DataError as exc:
                    why.append(f"audio: {exc}")
                if m.video is not None and m.video not in videos:
                    videos[m.video] = _decode_video(m.video, s)
                try:
                    decoded = videos.get(m.video, DataError("no video file"))
                    if isinstance(decoded, DataError):
                        raise decoded
                    packed["frames"][i, :k] = span_frames(*decoded, m.start, m.end, k)
                    packed["visual_ok"][i] = True
                except DataError as exc:
                    why.append(f"visual: {exc}")
                if nf:
                    packed["frames"][i, k:], unreadable = read_face_set(m.faces, nf, s)
                    packed["visual_ok"][i] |= bool(packed["frames"][i, k:].any())  # faces without the video
                    if unreadable:
                        why.append(f"{unreadable} unreadable face crops")
                packed["why"][i] = "; ".join(why)[:600]
            return packed

        packed = cache.get_or_build(rec.id.replace("/", "_"), "clips", cache_key(settings, files), build)
        for i, why in enumerate(packed["why"]):  # from the cache too: a rerun reports the same bad media
            if why:
                self.bad_clips[f"{rec.id}/{utterances[i]}"] = str(why)
        return packed


def _decode_video(path: Path, size: int) -> tuple[np.ndarray, float] | DataError:
    try:
        return decode_frames(path, size), video_info(path)[0]
    except DataError as exc:
        return exc


def utterance_logmel(path: Path | None, start: float | None, end: float | None, rows: int,
                     n_mels: int) -> np.ndarray:
    """(rows, n_mels) log-mel (25 ms window, 10 ms hop, 16 kHz) of the first ``rows`` x 10 ms of a file's sound (or
    of its ``start``-``end`` span), zero-padded."""

    if path is None:
        raise DataError("no audio file")
    wave = decode_audio(path, 16000)
    if end is not None:  # a span past the sound's end would be silently shorter
        check_complete(path, "soundtrack", len(wave) / 16000, end, "seconds", SLACK_SECONDS, None,
                       source=f"the utterance's span ({start or 0:g}-{end:g} s)")
    if start is not None:
        wave = wave[int(start * 16000):int(end * 16000) if end is not None else None]
    if len(wave) < 400:
        raise DataError(f"{path}: under 25 ms of sound{' in the span' if start is not None else ''}")
    spec = log_mel(wave, 16000, 160, n_mels, n_fft=400)[:rows]
    out = np.zeros((rows, n_mels), np.float32)
    out[:len(spec)] = spec
    return out


def span_frames(frames: np.ndarray, fps: float, start: float | None, end: float | None, k: int) -> np.ndarray:
    """k evenly spaced frames (k, 3, S, S) of a decoded video (N, 3, S, S): of the whole video, or of the frames
    lying wholly inside ``start``-``end`` seconds (frame i shows [i, i+1) / fps; a span shorter than a frame takes
    the frame at its middle)."""
    last = len(frames) - 1
    if start is None:
        lo, hi = 0, last
    else:
        end = len(frames) / fps if end is None else end
        if start * fps > last:
            raise DataError(f"the span {start:.2f}-{end:.2f}s starts after the video's {len(frames) / fps:.2f}s")
        lo, hi = int(np.ceil(start * fps)), int(np.floor(end * fps)) - 1
        if hi < lo:
            lo = hi = int((start + end) / 2 * fps)
        lo, hi = min(lo, last), min(hi, last)
    return frames[np.linspace(lo, hi, k).round().astype(int)]


def with_context(pieces: list[list[int]], i: int, before: int, after: int, max_tokens: int, cls: int,
                 sep: int) -> list[int]:
    """Encoder ids of utterance i of a dialogue (``pieces``: token ids without special tokens, per utterance):
    ``[CLS] u_i [SEP]``, then with context ``past [SEP] future [SEP]``, at most ``max_tokens`` long."""
    own = pieces[i][:max_tokens - 2]
    row = [cls, *own, sep]
    if not (before or after):
        return row
    past = [t for p in pieces[max(0, i - before):i] for t in p]
    future = [t for p in pieces[i + 1:i + 1 + after] for t in p]
    room = max(0, max_tokens - len(row) - 2)
    n_past = min(len(past), max(room // 2, room - len(future)))
    n_future = min(len(future), room - n_past)
    row += past[len(past) - n_past:] + [sep] + future[:n_future] + [sep]
    return row[:max_tokens]
