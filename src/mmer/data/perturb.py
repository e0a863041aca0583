"""Perturbations of one modality at test time (``mmer evaluate RUN --perturb MODALITY=KIND[:PARAM=VALUE]``), applied
to each collated batch before the model sees it:

==================  =====================================================================================
``m=drop``          the modality missing: zeros and mask False everywhere (the Batch contract's missing modality)
``m=noise:snr_db=X``  white Gaussian noise X dB below the signal: on the waveform where the model reads one
                    (``kind`` waveform), below each item's own power over its present steps; on its features
                    otherwise, below each feature's variance over the fold's training recordings (``scale``,
                    the spread its model standardises with: features in different units, such as openSMILE's
                    functionals, each get noise on their own scale); ``snr_db=inf`` is the clean input
``m=acoustic:snr_db=X``  white Gaussian noise X dB below the recording's power added to its sound before the
                    data module computes its acoustic inputs from it (all of them: waveform, spectrogram and
                    functionals alike; :class:`SourceNoise`), where the data module can (``acoustic_inputs``)
``m=frames:drop=p`` a share p of each item's present steps (video frames; any per-step input) masked and zeroed,
                    as frames where a detector missed the face
``m=words:drop=p``  each word-piece token removed with probability p (``kind`` tokens; ``[CLS]`` and every
                    ``[SEP]`` kept), the rest shifted left
==================  =====================================================================================

Deterministic: each item draws from its own generator seeded by (seed, its recording id, its window start), so a
perturbation does not depend on batching or order. A level of zero (``drop=0``, ``snr_db=inf``) leaves the batch
exactly as it was.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmer.core.batch import Batch
from mmer.core.errors import ConfigError
from mmer.data.records import ModalitySpec

KINDS = {"drop": None, "noise": "snr_db", "acoustic": "snr_db", "frames": "drop", "words": "drop"}


@dataclass(frozen=True)
class Perturbation:
    """One modality's perturbation (module doc); ``level``: snr_db for noise, the share dropped for frames and
    words, NaN for drop."""

    modality: str
    kind: str
    level: float = math.nan
    #: noise on features: each feature's standard deviation the noise is X dB below (:meth:`fitted`); None: the
    #: item's own power (a waveform)
    scale: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """``audio=noise:snr_db=10``, ``visual=frames:drop=0.3``, ``text=words:drop=0.3``, ``audio=drop``."""
        modality, _, rest = text.partition("=")
        kind, _, param = rest.partition(":")
        if not modality or kind not in KINDS:
            raise ConfigError(f"--perturb {text}: expected MODALITY=KIND[:PARAM=VALUE] with KIND one of "
                              f"{sorted(KINDS)} (audio=drop, audio=noise:snr_db=10, audio=acoustic:snr_db=10, "
                              f"visual=frames:drop=0.3, text=words:drop=0.3)")
        wanted = KINDS[kind]
        if wanted is None:
            if param:
                raise ConfigError(f"--perturb {text}: drop takes no parameter")
            return cls(modality, kind)
        name, _, value = param.partition("=")
        if name != wanted:
            raise ConfigError(f"--perturb {text}: {kind} takes {wanted}=VALUE")
        try:
            level = float(value)
        except ValueError:
            raise ConfigError(f"--perturb {text}: {wanted}={value!r} is not a number") from None
        if wanted == "drop" and not 0 <= level <= 1:
            raise ConfigError(f"--perturb {text}: drop is a share in [0, 1]")
        if wanted == "snr_db" and math.isnan(level):
            raise ConfigError(f"--perturb {text}: snr_db must be a number of dB, or inf")
        return cls(modality, kind, level)

    @property
    def short(self) -> str:
        """A table row's name: ``audio removed``, ``audio noise 10 dB``, ``visual frames -30%``."""
        if self.kind == "drop":
            return f"{self.modality} removed"
        if self.kind == "noise":
            return f"{self.modality} noise {self.level:g} dB"
        if self.kind == "acoustic":
            return f"recording noise {self.level:g} dB"
        return f"{self.modality} {self.kind} -{self.level:.0%}"

    @property
    def label(self) -> str:
        return f"{self.modality}={self.kind}" + ("" if self.kind == "drop" else f":{KINDS[self.kind]}={self.level:g}")

    def check(self, spec: dict[str, ModalitySpec], acoustic: Sequence[str] = ()) -> str:
        """Refuse a modality the model does not read or a kind that does not fit it (``acoustic``: the inputs the
        data module computes from a recording's sound); returns what is done to it (``on the waveform, ...``)."""
        if self.modality not in spec:
            raise ConfigError(f"--perturb {self.label}: this run reads {sorted(spec)}, not {self.modality}")
        kind = spec[self.modality].kind
        if self.kind == "acoustic":
            inputs = " and ".join([", ".join(acoustic[:-1]), acoustic[-1]] if len(acoustic) > 1 else acoustic)
            if self.modality not in acoustic:
                raise ConfigError(f"--perturb {self.label}: this data module computes {inputs or 'none of its inputs'} "
                                  f"from the recordings' sound, not {self.modality}; {self.modality}=noise:snr_db="
                                  f"{self.level:g} adds noise to the input itself")
            return f"in the recording, below its power, before {inputs} {'are' if len(acoustic) > 1 else 'is'} " \
                   f"computed from it"
        if self.kind == "words" and kind != "tokens":
            raise ConfigError(f"--perturb {self.label}: words drop applies to text tokens; {self.modality} is {kind}")
        if self.kind == "noise" and kind in ("tokens", "frames"):
            raise ConfigError(f"--perturb {self.label}: noise applies to a waveform or features; {self.modality} is "
                              f"{kind} (frames:drop=p drops video frames)")
        where = {"drop": "removed", "frames": f"steps dropped ({kind})", "words": "word pieces dropped",
                 "noise": "on the waveform, below each item's own power" if kind == "waveform" else
                 "on the features, below each feature's spread over the fold's training recordings"}
        return where[self.kind]

    def fitted(self, spec: dict[str, ModalitySpec], statistics: Callable[[str], tuple]) -> Perturbation:
        """This perturbation with its ``scale`` when it is noise on features: the std of ``statistics(modality)``
        (:meth:`~mmer.data.base.FoldedDataModule.input_statistics`, a fold's training recordings); else itself."""
        if self.kind != "noise" or spec[self.modality].kind != "features" or math.isinf(self.level):
            return self
        spec_scale = spec[self.modality].scale  # the batch holds the stored values times the spec's scale
        return dataclasses.replace(self, scale=tuple(float(v) * spec_scale for v in statistics(self.modality)[1]))

    def apply(self, batch: Batch, seed: int) -> None:
        """Perturb ``batch`` in place (its tensors are this batch's own)."""
        m = self.modality
        x, mask = batch.inputs[m], batch.masks[m]
        if self.kind == "acoustic":  # added to the recordings as they are loaded (SourceNoise), not to a batch
            return
        if self.kind == "drop":
            batch.inputs[m], batch.masks[m] = torch.zeros_like(x), torch.zeros_like(mask)
            return
        if self.kind == "noise" and math.isinf(self.level) and self.level > 0 or \
                self.kind != "noise" and self.level == 0:
            return
        for i, rng in enumerate(item_generators(batch, seed, m)):
            if self.kind == "noise":
                present = mask[i].bool()
                values = x[i][present].double()
                if values.numel() == 0:
                    continue
                signal = torch.tensor(self.scale, dtype=torch.float64) if self.scale else values.pow(2).mean().sqrt()
                std = signal * 10 ** (-self.level / 20)
                noise = (torch.from_numpy(rng.normal(0.0, 1.0, tuple(x[i].shape))) * std).to(x.dtype)
                x[i] = torch.where(_steps(present, x[i]), x[i] + noise, x[i])
            elif self.kind == "frames":
                steps = torch.nonzero(mask[i]).flatten()
                chosen = steps[torch.from_numpy(rng.random(len(steps)) < self.level)]
                x[i, chosen] = 0
                mask[i, chosen] = False
            else:
                x[i] = drop_tokens(x[i], self.level, rng)


@dataclass(frozen=True)
class SourceNoise:
    """Noise in the recordings themselves (``m=acoustic:snr_db=X``): white Gaussian noise of standard deviation
    ``rms(wave) * 10 ** (-X / 20)`` (rms over the recording's whole decoded waveform) added to the sound of each
    recording in ``recordings`` before its inputs are computed, drawn from (seed, recording id). Only the recordings
    being scored get it: the training recordings a model's statistics come from stay clean."""

    snr_db: float
    seed: int
    recordings: frozenset[str]

    def add(self, wave: np.ndarray, rec_id: str) -> np.ndarray:
        """(S,) or (S, C) waveform -> the same with this noise (float32; not clipped to [-1, 1])."""
        signal = np.asarray(wave, np.float64)
        rms = float(np.sqrt(np.mean(signal ** 2))) if signal.size else 0.0
        if rms == 0.0 or math.isinf(self.snr_db) and self.snr_db > 0:
            return np.asarray(wave, np.float32)
        rng = np.random.default_rng([self.seed, zlib.crc32(f"acoustic/{rec_id}".encode())])
        return (signal + rng.normal(0.0, rms * 10 ** (-self.snr_db / 20), signal.shape)).astype(np.float32)


def _steps(present: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
    """(T,) step mask broadcast over an item's trailing dimensions."""
    return present.reshape(present.shape + (1,) * (item.dim() - 1))


def drop_tokens(ids: torch.Tensor, share: float, rng: np.random.Generator) -> torch.Tensor:
    """(U, L) token ids (0 = padding): in each row, each word piece removed with probability ``share`` and the rest
    shifted left. The first token (``[CLS]``) and every separator (the id the row ends with, ``[SEP]``) are kept,
    so an utterance encoded with its context, ``[CLS] u [SEP] past [SEP] future [SEP]``, keeps its three parts."""
    out = torch.zeros_like(ids)
    for u, row in enumerate(ids):
        tokens = row[row != 0]
        if len(tokens) > 2:
            special = tokens == tokens[-1]
            special[0] = True
            keep = special | torch.from_numpy(rng.random(len(tokens)) >= share)
            tokens = tokens[keep]
        out[u, :len(tokens)] = tokens
    return out


def item_generators(batch: Batch, seed: int, modality: str) -> list[np.random.Generator]:
    """One generator per item, from (seed, modality, recording id, window start)."""
    starts = batch.meta.get("start")
    starts = starts.tolist() if isinstance(starts, torch.Tensor) else [0] * len(batch.meta["recording"])
    return [np.random.default_rng([seed, zlib.crc32(f"{modality}/{rec}".encode()), int(start)])
            for rec, start in zip(batch.meta["recording"], starts)]


class Perturbed:
    """A collate function that perturbs what ``collate`` returns (picklable for worker processes)."""

    def __init__(self, collate: Callable, perturbations: Sequence[Perturbation], seed: int) -> None:
        self.collate, self.perturbations, self.seed = collate, list(perturbations), seed

    def __call__(self, items):
        batch = self.collate(items)
        for p in self.perturbations:
            p.apply(batch, self.seed)
        return batch


def perturbed_loader(loader: torch.utils.data.DataLoader, perturbations: Sequence[Perturbation],
                     seed: int) -> torch.utils.data.DataLoader:
    """``loader`` with every batch perturbed (same items, order and batching)."""
    if not perturbations:
        return loader
    return torch.utils.data.DataLoader(loader.dataset, batch_sampler=loader.batch_sampler, num_workers=0,
                                       collate_fn=Perturbed(loader.collate_fn, perturbations, seed))
