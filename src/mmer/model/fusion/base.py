"""The fusion contract and its optional hooks, declared once with their defaults (every fusion subclasses
:class:`Fusion`; the module and ``mmer explain`` read the hooks, never probe for them)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from torch import Tensor, nn


class Fusion(nn.Module):
    """Built with ``in_dims: dict[str, int]``; ``forward(feats, masks, need_weights=False)`` maps
    {m: (B, T, D_m)} and masks {m: (B, T)} to (B, T, out_dim), or (B, 1, out_dim) for a fusion that pools over time,
    and with ``need_weights`` returns ``(fused, {name: attention weights})``. Any subset of the modalities may be
    present at run time (absent: zeros and a False mask); outputs at fully masked positions are 0."""

    out_dim: int
    #: True: the fusion gets every modality's tokens on their own time axes (no alignment onto one token grid) and
    #: returns (B, 1, d), e.g. EMERT's cross-attention over each modality's own steps.
    own_time_axes: bool = False
    #: the fusion's own losses of the last forward pass, already weighted ({name: scalar}); the module adds them
    #: to the heads' loss and logs them as ``<stage>/loss_<name>`` (EMERT's adversarial decoupling).
    aux_losses: Mapping[str, Tensor] = MappingProxyType({})
    #: the names ``aux_losses`` will hold, known before any forward pass (what ``cv.monitor`` may name)
    aux_loss_names: tuple[str, ...] = ()

    @property
    def attention_labels(self) -> dict[str, list[str]]:
        """Names of the keys of each attention-weight tensor ``need_weights`` returns (``mmer explain``); none by
        default."""
        return {}
