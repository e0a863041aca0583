"""The optional hooks of a data module, grouped by who reads them. Each has a default; a dataset overrides the
ones that apply to it. Nothing outside a data module sets or probes its attributes: the other layers call these.

- :class:`RunReportHooks`: the CV job (official splits, skipped and masked input, submission files);
- :class:`ExplainHooks`: ``mmer explain`` (what a step is, what to say about a sample, its scene);
- :class:`PredictHooks`: ``mmer predict`` (reading new files without labels, their frame rate);
- :class:`EvaluateHooks`: ``mmer evaluate`` and ``mmer robustness`` (noise added to the recordings themselves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from mmer.core.errors import DataError
from mmer.data.perturb import SourceNoise
from mmer.data.records import Item, Recording


def input_counts(skipped: Mapping[str, str], items: Iterable[Item]) -> dict[str, int]:
    """``recordings skipped as bad input`` (left out under ``data.on_bad_input=skip``); per modality m present
    in the items, ``recordings without m`` (every step masked: a missing file, no face found at all) and
    ``masked m steps`` (the masked steps of the other recordings: frames without a face, utterances without a
    clip)."""
    counts = {"recordings skipped as bad input": len(skipped)}
    for item in items:
        for m, mask in item.input_masks.items():
            mask = np.asarray(mask, bool)
            missing = int(mask.size - np.count_nonzero(mask))
            whole = mask.size > 0 and missing == mask.size
            counts[f"recordings without {m}"] = counts.get(f"recordings without {m}", 0) + int(whole)
            counts[f"masked {m} steps"] = counts.get(f"masked {m} steps", 0) + (0 if whole else missing)
    return counts


class RunReportHooks:
    """What the CV job asks of a dataset beyond its items."""

    #: what the folds group by, the independent unit of the protocol (subject, actor, dialogue, ...): every
    #: recording of one group is on the same side of every split (the protocol line of every result names it)
    group_unit: str = "group"

    #: official-split datasets (one fold): {split: the name their papers report}, e.g. MELD's
    #: {"train": "train", "val": "dev", "test": "test"}. The CV job then also predicts and scores the training
    #: split and prints a train / dev / test table. Empty: a k-fold dataset.
    split_names: Mapping[str, str] = MappingProxyType({})

    @property
    def skipped(self) -> dict[str, str]:
        """Recordings left out as bad input under ``data.on_bad_input=skip`` ({id: why}); the CV summary reports
        their count as ``data/skipped``. None by default."""
        return {}

    def data_report(self) -> dict[str, int]:
        """Every masked or unusable input, counted the same way by every data module (:func:`input_counts` over
        the recordings loaded so far), then the dataset's own finer counts (:meth:`dataset_report`); logged after
        extraction and written to the run summary as ``data/*``."""
        return input_counts(self.skipped, self.loaded_items()) | self.dataset_report()

    def loaded_items(self) -> Iterable[Item]:
        """The items loaded so far (never loads one). None by default."""
        return ()

    def dataset_report(self) -> dict[str, int]:
        """A dataset's own counts beyond :func:`input_counts` ({what: count}, e.g. GroupWalk's frames without an
        OpenPose file). None by default."""
        return {}

    def export_predictions(self, out_dir: Path, table: dict[str, np.ndarray], target: str) -> None:
        """Write the merged held-out predictions of ``target`` ({recording: (rows, C)}) in the dataset's own
        submission format under ``out_dir`` (Aff-Wild2: ABAW's files). Nothing by default."""


class ExplainHooks:
    """What ``mmer explain`` asks of a dataset."""

    #: what one time step of an item is (the explanations' wording and time windows)
    step_unit: str = "frames"
    #: each step is a prediction of its own (a dialogue's utterances: one explanation each), rather than a frame
    #: of a window (one explanation per window); such a dataset names its steps with :meth:`step_names`
    per_step_predictions: bool = False
    #: steps per time window of the explanations' average distribution
    explain_time_window: int = 250

    def explain_context(self, rec_id: str) -> dict | None:
        """What an explanation says about one sample beyond its window: a dict with ``video``, ``start_frame``,
        ``end_frame``, ``location`` (a scene tag or None) and any extra fields (GroupWalk: agent, votes). None
        (default): the item's recording id and window position."""
        return None

    def scene_image(self, rec_id: str) -> np.ndarray | None:
        """A (3, H, W) uint8 scene image of the sample for a user-given scene classifier or ANP scorer
        (``mmer explain --scene-model``); None (default): the dataset has none."""
        return None

    def step_names(self, rec_id: str) -> list[str]:
        """The names of a recording's steps, in order (a dialogue's utterance ids). Required of datasets with
        ``per_step_predictions``."""
        raise NotImplementedError(f"{type(self).__name__} has per_step_predictions=True and must name its steps "
                                  "with step_names(rec_id)")


class PredictHooks:
    """What ``mmer predict`` asks of a dataset."""

    #: file suffixes :meth:`add_unlabelled` reads (``mmer predict`` picks these out of a folder)
    unlabelled_suffixes: tuple[str, ...] = ()

    def frame_rate(self, rec: Recording) -> float | None:
        """Label frames per second of a recording (a video's fps), where the dataset knows it: the time axis of
        ``mmer predict``'s CSV and plot."""
        return None

    def add_unlabelled(self, path: Path, faces: Path | None = None, name: str | None = None) -> list[Recording]:
        """New recordings from a file without labels: read as the dataset's own are, served by ``load`` (targets
        all masked), partition ``"predict"``. ``faces``: a folder of face crops in the dataset's layout, where it
        has one. ``name``: the recording's name (default: the file's stem; ``mmer predict`` gives inputs that share
        a stem distinct names). A data module that cannot read new files says so."""
        raise DataError(f"{type(self).__name__} cannot read new files yet: `mmer predict` works for the datasets "
                        f"whose data module implements add_unlabelled (docs/guides/trained-model.md)")


class EvaluateHooks:
    """What ``mmer evaluate`` and ``mmer robustness`` ask of a dataset beyond its batches (perturbations of a
    batch, :mod:`mmer.data.perturb`, need nothing of it)."""

    def acoustic_inputs(self) -> tuple[str, ...]:
        """The inputs this data module computes from a recording's sound (waveform, spectrogram, functionals),
        which noise added to the recording reaches (``m=acoustic:snr_db=X``). None by default."""
        return ()

    def noise_at_source(self, noise: SourceNoise | None) -> None:
        """From now on, load the recordings ``noise`` names with it added to their sound before every acoustic
        input is computed (never cached, never the recordings its statistics come from); None: clean again."""
        if noise is not None:
            raise DataError(f"{type(self).__name__} cannot add noise to its recordings before computing its inputs; "
                            f"MODALITY=noise:snr_db=X adds it to the inputs instead")
