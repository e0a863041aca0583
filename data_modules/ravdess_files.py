"""RAVDESS file names: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.<wav|mp4>``, seven two-digit fields, as the owners ship them.

==========  =====================================================================================
field       values
==========  =====================================================================================
MM          01 audio-video (mp4), 02 video-only (mp4), 03 audio-only (wav)
VV          01 speech, 02 song
EE          01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised
            (song has no 07 disgust and no 08 surprised)
II          01 normal, 02 strong (neutral has no strong intensity)
SS          01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
RR          01, 02 (repetition)
AA          01-24 (odd male, even female); must equal the ``Actor_XX`` folder's number
==========  =====================================================================================

:func:`parse_clip` turns one path into a :class:`Clip` or raises :class:`~mmer.core.errors.DataError` naming the file and
the field; :func:`discover` walks a release and returns the clips and, for every file it could not take, why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.extraction import Extraction
from mmer.data.speech import clip_seconds

MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
            "07": "disgust", "08": "surprised"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
REPETITIONS = {"01": 1, "02": 2}
SUFFIX_OF = {"01": ".mp4", "02": ".mp4", "03": ".wav"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
FOLDER = re.compile(r"^Actor_(\d\d)$")
FIELDS = (("modality", MODALITIES), ("vocal channel", CHANNELS), ("emotion", EMOTIONS), ("intensity", INTENSITIES),
          ("statement", STATEMENTS), ("repetition", REPETITIONS))


@dataclass(frozen=True)
class Clip:
    """One RAVDESS file. ``id``: ``Actor_XX/<name>`` without the suffix (unique across modalities: MM is in it)."""

    path: Path
    modality: str
    channel: str
    emotion: str
    intensity: str
    statement: int
    repetition: int
    actor: int

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"

    @property
    def has_audio(self) -> bool:
        return self.modality != "video-only"

    @property
    def has_video(self) -> bool:
        return self.modality != "audio-only"


def parse_clip(path: Path, check_folder: bool = True) -> Clip:
    """A RAVDESS path -> :class:`Clip`. Errors name the file and what is wrong: a name off the scheme, an unknown code,
    a combination the corpus does not have (strong neutral, sung disgust or surprise), a suffix that disagrees with
    the modality code, an actor folder that disagrees with the name's actor."""
    match = NAME.match(path.stem)
    if not match:
        raise DataError(f"{path}: not a RAVDESS name: expected MM-VV-EE-II-SS-RR-AA (seven two-digit fields, e.g. "
                        f"03-01-05-02-01-01-12{SUFFIX_OF['03']})")
    codes = match.groups()
    values = []
    for (what, table), code in zip(FIELDS, codes):
        if code not in table:
            raise DataError(f"{path}: unknown {what} code '{code}' (known: {', '.join(sorted(table))})")
        values.append(table[code])
    modality, channel, emotion, intensity, _, repetition = values
    actor = int(codes[6])
    if not 1 <= actor <= 24:
        raise DataError(f"{path}: actor code '{codes[6]}' is outside 01-24")
    if emotion == "neutral" and intensity == "strong":
        raise DataError(f"{path}: neutral has no strong intensity in RAVDESS (intensity code 02 with emotion 01)")
    if channel == "song" and emotion in ("disgust", "surprised"):
        raise DataError(f"{path}: RAVDESS song has no {emotion} (emotion code {codes[2]} with vocal channel 02)")
    if path.suffix.lower() != SUFFIX_OF[codes[0]]:
        raise DataError(f"{path}: modality code {codes[0]} ({modality}) is a {SUFFIX_OF[codes[0]]} file, not "
                        f"{path.suffix or 'a file without suffix'}")
    if check_folder:
        folder = FOLDER.match(path.parent.name)
        if not folder:
            raise DataError(f"{path}: RAVDESS files live in Actor_XX folders, not in '{path.parent.name}'")
        if int(folder.group(1)) != actor:
            raise DataError(f"{path}: the name says actor {actor:02d} but the file is in {path.parent.name}")
    return Clip(path, modality, channel, emotion, intensity, int(codes[4]), repetition, actor)


def discover(root: Path, suffixes: tuple[str, ...] = (".wav", ".mp4")) -> tuple[list[Clip], dict[str, str]]:
    """Every ``Actor_XX/*`` file of the release under ``root`` with one of ``suffixes`` -> (clips sorted by id,
    {path: why} for the files :func:`parse_clip` refuses). Hidden files and other folders are ignored."""
    clips, bad, seen = [], {}, {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("Actor_")):
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in suffixes:
                continue
            same = seen.setdefault((folder.name, path.name.lower()), path)
            if same != path:  # x.wav and x.WAV: one take twice (a copy made on a case-insensitive disk)
                raise DataError(f"{same} and {path.name} are one file name in two cases: keep one of them")
            try:
                clips.append(parse_clip(path))
            except DataError as exc:
                bad[str(path)] = str(exc)
    return sorted(clips, key=lambda c: c.id), bad


#: a clip longer than this many times the median clip is bad input (it would set everyone's padding)
OUTLIER = 4.0


def clip_durations(clips: list[Clip], extraction: Extraction, root: str) -> dict[str, float]:
    """{clip id: seconds} from each file's header. An unreadable file, or one :data:`OUTLIER` times longer than
    the median clip (every clip is padded to the longest), is refused by ``extraction``: it stops the run naming the
    file, or with ``data.on_bad_input=skip`` is left out like any other bad recording."""
    def bad(clip: Clip, why: str) -> None:
        extraction.refuse(clip.id, why, " (or set data.on_bad_input=skip to leave such files out)")

    durations = {}
    for c in clips:
        try:
            durations[c.id] = clip_seconds(c.path)
        except DataError as exc:
            bad(c, str(exc))
    if not durations:
        raise DataError(f"ravdess: none of the {len(clips)} clips under {root} is readable; first: "
                        f"{next(iter(extraction.skipped.values()))}")
    median = float(np.median(list(durations.values())))
    for c in clips:
        if durations.get(c.id, 0) > OUTLIER * median:
            bad(c, f"{c.path}: {durations[c.id]:.1f} s, {durations[c.id] / median:.0f} times the median clip "
                   f"({median:.1f} s); every clip is padded to the longest, so this one would set the length of all: "
                   "remove it")
            del durations[c.id]
    return durations


def clip_targets(clip: Clip, spec: dict[str, list[str]], calm: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A clip's targets and their masks from its name: ``emotion`` (an index into ``spec["emotion"]``; calm is
    neutral when ``calm="neutral"``) and ``intensity`` (masked for neutral clips, which have none), those in
    ``spec``."""
    targets, masks = {}, {}
    if "emotion" in spec:
        emotion = "neutral" if clip.emotion == "calm" and calm == "neutral" else clip.emotion
        targets["emotion"], masks["emotion"] = np.int64(list(spec["emotion"]).index(emotion)), np.bool_(True)
    if "intensity" in spec:
        targets["intensity"] = np.int64(list(INTENSITIES.values()).index(clip.intensity))
        masks["intensity"] = np.bool_(clip.emotion != "neutral")
    return targets, masks


def one_per_take(clips: list[Clip], wants_video: bool) -> list[Clip]:
    """One file per take: the audio-video mp4 and the audio-only wav of a take are the same performance (and a
    video-only mp4 the same face), so a model reads the file that has what it needs, preferring the wav for
    audio-only models and the audio-video mp4 otherwise; the other copies are left out so that no take is
    counted twice. Sorted by id."""
    rank = {"audio-video": 0, "video-only": 1, "audio-only": 2} if wants_video else \
        {"audio-only": 0, "audio-video": 1, "video-only": 2}
    best: dict[str, Clip] = {}
    for c in clips:
        take = c.path.stem[3:]  # every field but the modality
        if take not in best or rank[c.modality] < rank[best[take].modality]:
            best[take] = c
    return sorted(best.values(), key=lambda c: c.id)
