"""Settings checked before anything runs (issue 28, class 1): every setting has a declared type and range
(mmer.core.settings, mmer.config.schema), checked when the config is composed, and the model is built once in a dry
run, so that a bad value ends in one line naming the key, exit code 2 and no run folder."""

from __future__ import annotations

import glob
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmer.cli import main
from mmer.config.composer import compose
from mmer.config.schema import SECTIONS, parameters, signature_of
from mmer.core.errors import ConfigError
from mmer.core.settings import RANGES, Range, check_value, describe, fits
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]

# the examples, then more of their kinds: (override, the start of the one line)
BAD = [
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc': expected null or an integer >= 1"),
    ("trainer.max_epochs=1.5", "trainer.max_epochs=1.5: expected null or an integer >= 1"),
    ("seed=abc", "seed='abc': expected an integer in [0, 4294967295]"),
    ("model.fusion.heads=3", "model.fusion (JointTransformerFusion): d_model=64 is not divisible by heads=3"),
    ("model.heads.va.dropout=1.5", "model.heads.va.dropout=1.5: expected a number in [0, 1)"),
    ("trainer.precision=bogus", "trainer.precision='bogus': expected null or one of 64, 32, 16,"),
    ("cv.monitor=val/nonexistent", "cv.monitor=val/nonexistent: this model logs no such key; it logs val/loss,"),
    ("trainer.max_epochs=-1", "trainer.max_epochs=-1: expected null or an integer >= 1"),
    ("model.fusion.depth=-1", "model.fusion.depth=-1: expected an integer >= 0"),
    ("model.fusion.d_model=0", "model.fusion.d_model=0: expected an integer >= 1"),
    ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1: expected null or a number >= 0"),
    ("cv.mode=maximum", "cv.mode='maximum': expected one of 'min', 'max'"),
    ("data.window=abc", "data.window='abc': expected an integer >= 1"),
    ("model.fusion.block=post", "model.fusion (JointTransformerFusion): attention block='post'"),
    ("+model.optimizer.betas=[0.9]", "model.optimizer.betas=[0.9]: expected a list of "),
    ("model.fusion.nosuch=1", "config error: Could not override 'model.fusion.nosuch'. To append to your config use"),
    ("model.token_upsampling=linear", "model.token_upsampling='linear': expected one of 'repeat', 'interpolate'"),
    ("trainer.deterministic=maybe", "trainer.deterministic='maybe': expected "),
    ("+model.fusion.bogus=1", "model.fusion.bogus: JointTransformerFusion has no setting 'bogus'"),
]


@pytest.mark.parametrize("override,line", BAD, ids=[b[0] for b in BAD])
def test_a_bad_setting_is_one_line_with_exit_code_2_and_no_run_folder(override, line, tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["cv", *TINY, "cv.folds=2", f"paths.output_root={root}", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {line}") and len(err.splitlines()) == 1, err
    assert not root.exists()


def registered_targets() -> list[str]:
    """Every component the shipped config groups name."""
    names = set()
    for path in glob.glob(str(ROOT / "experiments" / "**" / "*.yaml"), recursive=True):
        names.update(re.findall(r"_target_:\s*(\S+)", Path(path).read_text()))
    return sorted(names)


def numeric(hint: Any) -> bool:
    """An int or float, alone, optional or in a sequence or mapping (without a range of its own)."""
    if typing.get_origin(hint) is Annotated:
        return False
    return hint in (int, float) or any(numeric(a) for a in typing.get_args(hint))


@pytest.mark.parametrize("target", [t for t in registered_targets() if t.startswith("mmer.")])
def test_every_numeric_argument_of_every_component_has_a_declared_range(target):
    hints, _ = signature_of(target)
    assert hints, target
    undeclared = [n for n, h in hints.items() if numeric(h) and n not in RANGES and n != "in_dims"]
    assert not undeclared, f"{target}: give {undeclared} a range in mmer.core.settings.RANGES or an Annotated one"


def test_every_numeric_setting_of_the_sections_and_the_trainer_keys_we_set_has_a_range():
    trainer_keys = set(compose([]).trainer) - {"devices"}  # a count, -1 or device indices: check_layout's
    for section, owner in SECTIONS.items():
        for name, hint in parameters(owner).items():
            if section == "trainer" and name not in trainer_keys:
                continue
            assert not numeric(hint) or name in RANGES, f"{section}.{name}: declare its range"


def test_every_shipped_experiment_composes_under_the_schema():
    for path in sorted((ROOT / "experiments" / "experiment").glob("*.yaml")):  # emert/base.yaml is a part
        compose([f"experiment={path.stem}"])  # raises ConfigError naming the setting


values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=5), st.lists(st.integers(-5, 5), max_size=3))


@given(values)
def test_an_integer_with_a_range_takes_exactly_the_integers_in_it(value):
    hint = Annotated[int, Range(low=1, high=10)]
    expected = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10
    assert fits(value, hint) == expected
    problem = check_value("k", value, hint)
    assert (problem is None) == expected
    assert expected or problem.endswith("expected an integer in [1, 10]")


@given(values)
def test_a_probability_takes_numbers_in_its_half_open_interval(value):
    expected = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    assert fits(value, float | None, RANGES["dropout"]) == (expected or value is None)


@given(values)
def test_literals_sequences_and_optionals(value):
    assert fits(value, Literal["min", "max"]) == (value in ("min", "max") and isinstance(value, str))
    is_int_list = isinstance(value, list) and all(isinstance(v, int) for v in value)
    assert fits(value, Sequence[int]) == is_int_list
    assert fits(value, Sequence[int] | None) == (is_int_list or value is None)


def test_descriptions_read_as_english():
    assert describe(int | None, RANGES["depth"]) == "null or an integer >= 0"
    assert describe(tuple[float, float], RANGES["screen"]) == "a list of a number > 0"
    assert str(Range(0, 1, high_open=True)) == "in [0, 1)"


def test_a_section_setting_that_does_not_fit_is_refused_at_compose():
    with pytest.raises(ConfigError, match=r"cv.plot_videos=-1: expected an integer >= 0"):
        compose(["cv.plot_videos=-1"])
    with pytest.raises(ConfigError, match=r"cv.smooth=\{'valence': 0\}: expected a mapping of an integer >= 1"):
        compose(["+cv.smooth.valence=0"])


def test_ranges_name_only_arguments_that_exist():
    """A name in RANGES that no component, section or trainer argument has is a typo."""
    known = set()
    for target in registered_targets():
        known.update(signature_of(target)[0])
    for owner in SECTIONS.values():
        known.update(parameters(owner))
    assert not set(RANGES) - known, sorted(set(RANGES) - known)
