"""A data module reads inside its data root only.

Names that come from a release's own files (a sample name in ``samples.csv``, a video id in ``annotations.csv``, a
clip name in a label sheet) become paths through :meth:`DataRoot.join`, which refuses a name with path components
(``../S002/trial``, ``/etc/x``, ``a/b``): a crafted or corrupted row could otherwise read another subject's trial
under this row's label. Every path a data module reads is checked by :meth:`DataRoot.check` to resolve, after
symlinks, inside the root; a link out of the root (a clip linked from another copy, a crop folder on another disk)
is refused, naming the link, its target and the setting that allows it (``+data.allow_outside_root=true``, said
once in the log when used).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mmer.core.errors import DataError

log = logging.getLogger(__name__)


def plain_name(name: str, source: str) -> str:
    """``name`` when it is one path component (no separator, not ``.``/``..``, no NUL); else a DataError naming
    ``source`` (the file and line it came from)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
            or os.path.isabs(name) or Path(name).drive):
        raise DataError(f"{source}: '{name}' is not a plain name (it has path components); a name in the data's "
                        "files must name one file or folder under the data root")
    return name


class DataRoot:
    """The data root of one data module. ``allow_outside``: read files whose real path is outside the root (a
    release assembled from links), said once."""

    def __init__(self, root: str | Path, dataset: str, allow_outside: bool = False) -> None:
        self.path = Path(root)
        self.real = self.path.resolve()
        self.dataset, self.allow_outside = dataset, allow_outside
        self.said = False

    def join(self, *parts: str, source: str) -> Path:
        """``root / parts...`` for names read from the data (each a plain name), checked to stay inside."""
        return self.check(self.path.joinpath(*(plain_name(p, source) for p in parts)))

    def check(self, path: str | Path) -> Path:
        """``path`` unchanged when its real path (after symlinks) is inside the root (or outside is allowed)."""
        path = Path(path)
        real = path.resolve()
        if real == self.real or self.real in real.parents:
            return path
        if not self.allow_outside:
            via = f" (a link to {real})" if real != path.absolute() else ""
            raise DataError(f"{self.dataset}: {path}{via} is outside the data root {self.real}: mmer reads only "
                            "inside data.root; move the file in, or allow links out with "
                            "+data.allow_outside_root=true")
        if not self.said:
            self.said = True
            log.warning("%s: data.allow_outside_root=true: reading files outside %s (first: %s -> %s)",
                        self.dataset, self.real, path, real)
        return path
