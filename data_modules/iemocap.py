"""IEMOCAP (``IEMOCAP_full_release``), conversation level: one item = one dialogue of a session.

Reads, per session ``Session{1..5}/dialog/``:

- ``EmoEvaluation/<dialogue>.txt``: label lines ``[start - end]<TAB><utterance id><TAB><code><TAB>[V, A, D]``
  (every other line, annotator details and headers, is ignored); codes neu, hap, exc, sad, ang, fru, sur, fea,
  dis, oth, xxx;
- ``transcriptions/<dialogue>.txt``: ``<utterance id> [start-end]: text``.

Utterances are ordered by start time; the speaker is the F/M letter of the utterance id. Utterances whose label
is outside the protocol's classes (xxx, oth, sur, ...) stay in the dialogue as context with their label masked.

Protocols: ``six_class`` (happy, sad, neutral, angry, excited, frustrated; the usual ERC split: Sessions 1-4 for
training with ``val_fraction`` of their dialogues for checkpoint selection, Session 5 held out as test) and
``four_class`` (angry, happy = happy + excited, sad, neutral; leave one session out: ``cv.folds=5``).

Audio and video (``clips=true``): per utterance the sentence wav ``Session*/sentences/wav/<dialogue>/<utterance>.wav``
and the utterance's span (its label line's start-end) of the dialogue video ``Session*/dialog/avi/DivX/<dialogue>.avi``
(whole frames: the release's split-screen side of each actor is not documented in our sources, so no half is
guessed). A missing wav or video masks that input and is counted (``DialogueDataModule``). Face crops (``faces_dir``,
from any face detector): ``<faces_dir>/<dialogue>/<utterance>/*.jpg|png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.dialogue import Dialogue, DialogueDataModule, UtteranceMedia
from mmer.data.readers import read_text
from mmer.data.records import Recording, require_dir

CODES = {"neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx"}
PROTOCOLS = {
    "six_class": (["happy", "sad", "neutral", "angry", "excited", "frustrated"],
                  {"hap": 0, "sad": 1, "neu": 2, "ang": 3, "exc": 4, "fru": 5}),
    "four_class": (["angry", "happy", "sad", "neutral"], {"ang": 0, "hap": 1, "exc": 1, "sad": 2, "neu": 3}),
}
_LABEL = re.compile(r"^\[(\d+\.?\d*) - (\d+\.?\d*)\]\t(\S+)\t(\S+)\t\[")
_TEXT = re.compile(r"^(\S+) \[[\d.]+-[\d.]+\]: ?(.*)$")


def read_evaluation(path: Path) -> list[tuple[float, float, str, str]]:
    """(start, end in seconds, utterance id, emotion code) of every label line, in file order."""
    out, seen = [], {}
    for lineno, line in enumerate(read_text(path, "EmoEvaluation file").splitlines(), start=1):
        if not line.startswith("["):
            continue
        m = _LABEL.match(line)
        if not m:
            raise DataError(f"{path}:{lineno}: a label line must read '[start - end]<TAB>utterance<TAB>code<TAB>"
                            f"[V, A, D]', found '{line.strip()}'")
        if m.group(4) not in CODES:
            raise DataError(f"{path}:{lineno}: unknown emotion code '{m.group(4)}'; IEMOCAP's are {sorted(CODES)}")
        if m.group(3) in seen:
            raise DataError(f"{path}:{lineno}: utterance {m.group(3)} already has a label line ({path.name}:"
                            f"{seen[m.group(3)]}); give each utterance one line")
        seen[m.group(3)] = lineno
        start, end = float(m.group(1)), float(m.group(2))
        if start > end:  # the span cuts the utterance's clip out of the dialogue's video
            raise DataError(f"{path}:{lineno}: utterance {m.group(3)} starts at {start:g} s, after it ends "
                            f"({end:g} s); fix the span")
        out.append((start, end, m.group(3), m.group(4)))
    if not out:
        raise DataError(f"{path}: no label lines ('[start - end]<TAB>utterance<TAB>code<TAB>[V, A, D]')")
    return out


def read_transcription(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise DataError(f"{path}: transcription file is missing (needed for the text of every utterance)")
    return {m.group(1): m.group(2).strip() for line in read_text(path, "transcription").splitlines()
            if (m := _TEXT.match(line.strip()))}


class IemocapDataModule(DialogueDataModule):
    """Args: root: the ``IEMOCAP_full_release`` folder (``DATA_DIR``). protocol: ``six_class`` or ``four_class``.
    val_fraction: share of the Session 1-4 dialogues used for checkpoint selection (six_class). The rest as
    :class:`~mmer.data.dialogue.DialogueDataModule`."""

    def __init__(self, root: str | None = None, protocol: Literal["six_class", "four_class"] = "six_class",
                 val_fraction: float = 0.1, **dialogue) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"data.protocol={protocol!r}: choose one of {sorted(PROTOCOLS)}")
        self.group_unit = "session" if protocol == "four_class" else "dialogue"
        if protocol == "six_class":
            if dialogue.get("num_folds", 1) != 1:
                raise ConfigError("iemocap six_class uses one official split: cv.folds=1 (four_class: cv.folds=5)")
            dialogue.update(num_folds=1, fold0_official=True)
        elif dialogue.get("num_folds") not in (5, "loso"):
            raise ConfigError("iemocap four_class is leave-one-session-out: cv.folds=5")
        super().__init__(**dialogue)
        self.root, self.protocol, self.val_fraction = root, protocol, val_fraction
        self.classes, self.mapping = PROTOCOLS[protocol]
        self.split_names = {"train": "train", "val": "val", "test": "test"} if protocol == "six_class" else {}

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": self.classes}

    def dialogues(self) -> list[Dialogue]:
        root = Path(require_dir(self.root, "iemocap"))
        sessions = sorted(p for p in root.glob("Session[1-5]") if (p / "dialog" / "EmoEvaluation").is_dir())
        if not sessions:
            raise DataError(f"iemocap: no Session1..Session5/dialog/EmoEvaluation folders under {root}; DATA_DIR "
                            f"must be the IEMOCAP_full_release folder")
        out, found_media = [], False
        for session in sessions:
            files = sorted((session / "dialog" / "EmoEvaluation").glob("*.txt"))[: self.max_dialogues]
            for path in files:
                labels = sorted(read_evaluation(path))
                texts = read_transcription(session / "dialog" / "transcriptions" / path.name)
                missing = [u for *_, u, _ in labels if u not in texts]
                if missing:
                    raise DataError(f"{session / 'dialog' / 'transcriptions' / path.name}: no text for {missing[:3]} "
                                    f"({len(missing)} utterances labelled in {path.name})")
                classes = np.asarray([self.mapping.get(code, -1) for *_, code in labels], np.int64)
                test = self.protocol == "six_class" and session.name == "Session5"
                media = self._media_of(session, path.stem, labels, self.faces_dir) if self.clips else None
                found_media |= bool(media) and any(m.audio or m.video for m in media)
                out.append(Dialogue(
                    Recording(path.stem, session.name if self.protocol == "four_class" else path.stem, len(labels),
                              "test" if test else "trainval"),
                    texts=[texts[u] for *_, u, _ in labels], speakers=[u.rsplit("_", 1)[1][0] for *_, u, _ in labels],
                    targets={"emotion": np.maximum(classes, 0)}, target_masks={"emotion": classes >= 0},
                    media=media, utterance_ids=[u for *_, u, _ in labels]))
        if self.clips and not found_media:
            raise DataError(f"iemocap: data.clips=true but no Session*/sentences/wav/<dialogue>/<utterance>.wav or "
                            f"Session*/dialog/avi/DivX/<dialogue>.avi under {root}; set data.clips=false (text only)")
        if self.protocol == "six_class":
            out = self._mark_validation(out)
        return out

    @staticmethod
    def _media_of(session: Path, dialogue: str, labels: list[tuple[float, float, str, str]],
                  faces_dir: str | None) -> list[UtteranceMedia]:
        video = session / "dialog" / "avi" / "DivX" / f"{dialogue}.avi"
        wavs = session / "sentences" / "wav" / dialogue
        return [UtteranceMedia(wav if (wav := wavs / f"{u}.wav").is_file() else None,
                               video if video.is_file() else None, start, end,
                               faces=Path(faces_dir) / dialogue / u if faces_dir else None)
                for start, end, u, _ in labels]

    def _mark_validation(self, dialogues: list[Dialogue]) -> list[Dialogue]:
        """A deterministic ``val_fraction`` of the Session 1-4 dialogues (seeded, from sorted ids) selects checkpoints."""
        ids = sorted(d.recording.id for d in dialogues if d.recording.partition == "trainval")
        rng = np.random.default_rng(self.seed)
        chosen = set(rng.choice(ids, max(1, round(self.val_fraction * len(ids))), replace=False).tolist())
        for d in dialogues:
            if d.recording.id in chosen:
                r = d.recording
                d.recording = Recording(r.id, r.group, r.num_frames, r.partition, official_val=True)
        return dialogues
