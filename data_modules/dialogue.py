"""Conversation datasets (MELD, IEMOCAP): one item = one whole dialogue, the utterance is the time step.

A subclass lists its dialogues (:meth:`dialogues`); this base tokenises every utterance once with the text
encoder's own tokenizer (optionally prefixed by the speaker: "Phoebe: Oh my God..."), cut at ``max_tokens``, and
serves the modality ``text``: (T, max_tokens) int64 ids, 0 = padding. One window = one whole dialogue, padded to
the longest dialogue with masks, so every utterance is scored exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from data_modules.base import Item, ModalitySpec, Recording, WindowedDataModule

log = logging.getLogger(__name__)


@dataclass
class Dialogue:
    """One conversation: utterance texts and speakers in order, per-utterance targets and label masks."""

    recording: Recording
    texts: list[str]
    speakers: list[str]
    targets: dict[str, np.ndarray]
    target_masks: dict[str, np.ndarray]


class DialogueDataModule(WindowedDataModule):
    """Args (besides :class:`~data_modules.base.FoldedDataModule`'s):
    tokenizer: encoder folder or packaged name (``minilm``). max_tokens: tokens per utterance (longer ones are cut).
    speaker_in_text: prefix each utterance with its speaker. max_dialogues: only the first N dialogues of each split
    or session (quick trials and tests; null = all).
    """

    def __init__(self, tokenizer: str = "minilm", max_tokens: int = 64, speaker_in_text: bool = True,
                 max_dialogues: int | None = None, **folded) -> None:
        super().__init__(window=1, hop=1, **folded)  # the window becomes the longest dialogue at index time
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.speaker_in_text, self.max_dialogues = speaker_in_text, max_dialogues
        self._items: dict[str, Item] = {}
        self._recordings: list[Recording] = []

    def dialogues(self) -> list[Dialogue]:
        raise NotImplementedError

    def input_spec(self) -> dict[str, ModalitySpec]:
        return {"text": ModalitySpec("tokens", self.max_tokens)}

    def index(self) -> list[Recording]:
        if not self._recordings:
            self._recordings = self._build()
            self.window = self.hop = max(r.num_frames for r in self._recordings)
        return self._recordings

    def _build(self) -> list[Recording]:
        from transformers import AutoTokenizer

        from mmer.backbones.text import resolve_encoder_path

        dialogues = self.dialogues()
        tok = AutoTokenizer.from_pretrained(str(resolve_encoder_path(self.tokenizer)), local_files_only=True)
        empty = single = 0
        for d in dialogues:
            empty += sum(not t.strip() for t in d.texts)
            single += len(d.texts) == 1
            texts = [f"{s}: {t}" for s, t in zip(d.speakers, d.texts)] if self.speaker_in_text else d.texts
            ids = tok(texts, max_length=self.max_tokens, truncation=True, padding="max_length")["input_ids"]
            self._items[d.recording.id] = Item(inputs={"text": np.asarray(ids, np.int64)}, targets=d.targets,
                                               target_masks=d.target_masks)
        name = type(self).__name__.removesuffix("DataModule").lower()
        log.info("%s: %d dialogues, %d utterances", name, len(dialogues), sum(len(d.texts) for d in dialogues))
        if empty or single:
            log.warning("%s: %d empty utterances (kept, encoded as empty text) and %d one-utterance dialogues",
                        name, empty, single)
        return [d.recording for d in dialogues]

    def load(self, rec: Recording) -> Item:
        return self._items[rec.id]
