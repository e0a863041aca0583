"""The reference data path: every window's face frames decoded from the ``cropped_aligned`` JPEGs per item, as the
JMT seed code does (PIL, one file per frame, resized to the model's face size)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class JpegWindows(Dataset):
    """Same (recording, start) windows as the data module's; item = (window, 3, face, face) float in [0, 1]."""

    def __init__(self, dm, items: list, face: int) -> None:
        self.window, self.face = dm.window, face
        self.items = [(dm._files[rec.id]["crops"], rec.num_frames, start) for rec, start in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        crops, n, start = self.items[i]
        out = np.zeros((self.window, 3, self.face, self.face), np.float32)
        for k in range(start, min(start + self.window, n)):
            path = crops / f"{k + 1:05d}.jpg" if crops is not None else None
            if path is None or not path.is_file():
                continue  # no face detected in that frame
            with Image.open(path) as img:
                arr = np.asarray(img.convert("RGB").resize((self.face, self.face), Image.BILINEAR), np.float32)
            out[k - start] = arr.transpose(2, 0, 1) / 255.0
        return torch.from_numpy(out)
