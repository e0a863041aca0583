"""What a setting may hold: a type hint (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``,
``Sequence[X]``, ``Mapping[str, X]``) and, for numbers, a :class:`Range`.

A range is declared once per argument *name* in :data:`RANGES` (``dropout`` is a probability in every component,
``d_model`` a positive integer everywhere), or on one parameter as ``Annotated[int, Range(low=2)]``, which wins.
:func:`check_value` tests a config value against both and returns one line naming the key, the value and what is
allowed (``model.fusion.depth=-1: expected an integer >= 0``), or None when the value fits."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal


@dataclass(frozen=True)
class Range:
    """``low <= x <= high`` (``<`` where open); a None bound is unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, x: float) -> bool:
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or (x < self.high if self.high_open else x <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {number(self.low)}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {number(self.high)}"
        return (f"in {'(' if self.low_open else '['}{number(self.low)}, {number(self.high)}"
                f"{')' if self.high_open else ']'}")


def number(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


POSITIVE = Range(low=1)  # sizes and counts that must exist: d_model, heads, batch_size
COUNT = Range(low=0)  # may be zero: depth (no layer), num_workers (load in the main process)
PROBABILITY = Range(0, 1, high_open=True)  # a drop rate of 1 would drop everything
FRACTION = Range(0, 1)
NON_NEGATIVE = Range(low=0)
ABOVE_ZERO = Range(low=0, low_open=True)

PositiveInt = Annotated[int, POSITIVE]
Count = Annotated[int, COUNT]
Probability = Annotated[float, PROBABILITY]
NonNegative = Annotated[float, NON_NEGATIVE]

#: the range of every numeric argument of a registered component and of the trainer, by name (a test walks every
#: component and fails on a numeric argument missing here without an ``Annotated`` range of its own)
RANGES: dict[str, Range] = {
    **dict.fromkeys((
        # model sizes
        "in_dim", "out_dim", "d_model", "heads", "hidden", "channels", "cnn_channels", "tcn_channels", "kernel",
        "layers", "attention_dim", "fusion_layers", "ff_dim", "input_channels", "rows_per_token", "clip_len",
        "frame_stride", "scene_frames", "bucket", "pools", "dim", "total_steps",
        # audio and video front ends
        "sample_rate", "encoder_rate", "n_mels", "n_fft", "hop_length", "mel_rate", "audio_rate", "face_size",
        "context_size", "frame_size", "fixation_size", "frames", "num_frames", "frame_step", "bio_length",
        "segment_frames", "frames_per_sample", "eye_steps", "face_frames",
        # data and folds
        "batch_size", "window", "hop", "num_subjects", "videos_per_subject", "min_frames", "max_frames",
        "visual_dim", "audio_dim", "actors", "test_actors", "num_folds", "max_tokens", "max_dialogues",
        "frames_per_clip", "faces_per_clip", "participants", "test_participants",
        # trainer and loops
        "max_epochs", "epochs", "log_every_n_steps", "accumulate_grad_batches", "check_val_every_n_epoch",
        "num_nodes", "token_stride", "patience", "every_n_epochs",
    ), POSITIVE),
    **dict.fromkeys(("depth", "fusion_depth", "positions", "test_subjects", "num_workers", "frame_count_tolerance",
                     "plot_videos", "fold", "min_epochs",
                     "context_before", "context_after"), COUNT),
    **dict.fromkeys(("dropout", "feature_dropout"), PROBABILITY),
    **dict.fromkeys(("val_fraction", "unlabelled_fraction", "face_missing_fraction", "face_fraction", "min_iou",
                     "min_confidence", "final", "warmup", "momentum"), FRACTION),
    **dict.fromkeys(("weight", "adversarial_weight", "specific_weight", "grl_lambda", "media_tolerance", "noise",
                     "weight_decay", "gradient_clip_val", "mixup", "base_margin", "scale", "min_delta",
                     "smooth"), NON_NEGATIVE),
    **dict.fromkeys(("lr", "seconds", "hop_ms", "eps", "clip_seconds"), ABOVE_ZERO),
    "seed": Range(0, 2**32 - 1),
    "num_sanity_val_steps": Range(low=-1),  # -1: the whole validation set
    "screen": ABOVE_ZERO,
    "agreement": Range(0.5, 1, low_open=True),  # the share of a window's seconds that carry its label
}


def check_value(key: str, value: Any, hint: Any, name: str | None = None) -> str | None:
    """None when ``value`` fits ``hint`` (and the range of the argument ``name``, by default ``key``'s last part);
    else the one line that says what is allowed."""
    name = name or key.rsplit(".", 1)[-1]
    if fits(value, hint, RANGES.get(name)):
        return None
    return f"{key}={show(value)}: expected {describe(hint, RANGES.get(name))}"


def unwrap(hint: Any, bound: Range | None) -> tuple[Any, Range | None]:
    """``Annotated[T, Range(...)]`` -> (T, its range); any other hint as it is, with ``bound``."""
    if typing.get_origin(hint) is not Annotated:
        return hint, bound
    inner, *extras = typing.get_args(hint)
    return inner, next((a for a in extras if isinstance(a, Range)), bound)


def fits(value: Any, hint: Any, bound: Range | None = None) -> bool:
    """``value`` is one of the values ``hint`` describes. A class hint (a tensor, a module) takes only its instances,
    which a config's scalar never is; a callable, or a hint this module cannot read, takes anything (the component's
    constructor judges it)."""
    hint, bound = unwrap(hint, bound)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is None or hint is type(None):
        return hint is Any or value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a, bound) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int if hint is int else (int, float)):
            return False
        return bound is None or bound.allows(value)
    if hint is str:
        return isinstance(value, str)
    container = origin or hint
    if isinstance(container, type) and issubclass(container, Mapping):
        return isinstance(value, Mapping) and all(fits(v, args[-1] if args else Any, bound) for v in value.values())
    if isinstance(container, type) and issubclass(container, Iterable) and container not in (str, bytes):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            return False
        items = [a for a in args if a is not Ellipsis]
        if container is tuple and len(items) > 1 and Ellipsis not in args:  # tuple[float, float]: fixed length
            return len(value) == len(items) and all(fits(v, a, bound) for v, a in zip(value, items))
        return all(fits(v, items[0] if items else Any, bound) for v in value)
    if isinstance(container, type) and container is not Callable:  # a tensor, a module: never a config's scalar
        return isinstance(value, container)
    return True


def describe(hint: Any, bound: Range | None = None) -> str:
    """``an integer >= 1``, ``one of 'min', 'max'``, ``null or a number in [0, 1)``."""
    hint, bound = unwrap(hint, bound)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(show(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        literals = [show(v) for a in args if typing.get_origin(a) is Literal for v in typing.get_args(a)]
        parts = [describe(a, bound) for a in args if a is not type(None) and typing.get_origin(a) is not Literal
                 and not (a is int and float in args)]  # int | float: "a number"
        parts += ["one of " + ", ".join(literals)] if literals else []
        return ("null or " if type(None) in args else "") + " or ".join(dict.fromkeys(parts))
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in words:
        return words[hint] + (f" {bound}" if bound is not None and hint in (int, float) else "")
    container = origin or hint
    if isinstance(container, type) and issubclass(container, Mapping):
        return "a mapping" + (f" of {describe(args[-1], bound)}" if args and args[-1] is not Any else "")
    if isinstance(container, type) and issubclass(container, Iterable) and container is not str:
        items = [a for a in args if a is not Ellipsis]
        return "a list" + (f" of {describe(items[0], bound)}" if items and items[0] is not Any else "")
    return getattr(hint, "__name__", str(hint))


def show(value: Any) -> str:
    """A value as a command-line override writes it: null, true, 'text' where a string might pass for a number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    return str(value)
