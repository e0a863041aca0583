"""E-Gait style gaits for pre-training EMERSK's gait module (``experiment=emersk_egait``).

``root/features.h5``: one dataset per gait, (frames, 48) = 16 joints x (x, y, z) (or (frames, 16, 3)), joints in the
E-Gait / STEP order (:data:`mmer.data_modules.groupwalk_files.EGAIT_TO_COCO18`); ``root/labels.h5``: one integer per
gait under the same key, meaning ``label_names[i]`` (default angry, neutral, happy, sad: the STEP code's order;
check your copy and set ``data.label_names`` if it differs). Each gait becomes the same body-normalised COCO-18
sequence GroupWalk's poses are (x, y dropped from 3D, y flipped), cut or padded to ``segment_frames``, so weights
trained here load into the GroupWalk gait backbone unchanged. Gaits carry no subject ids: each is its own fold group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data_modules.groupwalk_files import CLASSES, JOINTS, egait_to_coco18, normalise_pose, read_egait


class EGaitDataModule(SampleDataModule):
    """Args: root (``DATA_DIR``); features / labels: file names under root; label_names: the meaning of label i;
    segment_frames: frames per gait (cut or padded, mask False)."""

    group_unit = "gait"

    def __init__(self, root: str | None = None, features: str = "features.h5", labels: str = "labels.h5",
                 label_names: tuple[str, ...] = ("angry", "neutral", "happy", "sad"), segment_frames: int = 32,
                 **folded) -> None:
        super().__init__(**folded)
        unknown = [n for n in label_names if n not in CLASSES]
        if unknown:
            raise ConfigError(f"data.label_names has {unknown}; every name must be one of {list(CLASSES)}")
        self.root, self.features, self.labels = root, features, labels
        self.label_names, self.segment_frames = list(label_names), segment_frames
        self._items: dict[str, Item] = {}

    def input_spec(self) -> dict[str, ModalitySpec]:
        pose = ModalitySpec("features", JOINTS * 3, length=self.segment_frames)
        return {"posture": pose, "gait": pose}

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": list(CLASSES)}

    def index(self) -> list[Recording]:
        if not self._items:
            root = Path(require_dir(self.root, "egait"))
            inside = self.data_root().check
            gaits, labels = read_egait(inside(root / self.features), inside(root / self.labels))
            for key, gait in gaits.items():
                if not 0 <= labels[key] < len(self.label_names):
                    raise DataError(f"{root / self.labels}: gait '{key}' has label {labels[key]}, outside 0.."
                                    f"{len(self.label_names) - 1} (data.label_names={self.label_names})")
                frames = [normalise_pose(p) for p in egait_to_coco18(gait[: self.segment_frames])]
                pose = np.stack([f if f is not None else np.zeros((JOINTS, 3), np.float32) for f in frames])
                label = CLASSES.index(self.label_names[labels[key]])
                self._items[key] = Item(inputs={"posture": pose.reshape(len(pose), -1), "gait": pose.reshape(len(pose), -1)},
                                        input_masks={m: np.array([f is not None for f in frames]) for m in ("posture", "gait")},
                                        targets={"emotion": np.int64(label)}, target_masks={"emotion": np.bool_(True)})
        return [Recording(key, key, 1) for key in self._items]

    def load(self, rec: Recording) -> Item:
        return self._items[rec.id]

    def loaded_items(self) -> list[Item]:
        return list(self._items.values())
