"""MkDocs hook: the reference pages generated from the code, so that they cannot drift from it.

``<!-- mmer:commands -->`` becomes every ``mmer`` command's ``--help`` (from :func:`mmer.cli.build_parser`),
``<!-- mmer:make -->`` every ``make`` target with its ``##`` help (from the Makefile), and ``<!-- mmer:config -->``
every config group under ``experiments/`` with its options, each option's first comment line and its YAML. The
tests call the same functions (``tests/test_docs.py``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands_reference() -> str:
    """One section per command: its help line and its ``--help`` text."""
    from mmer.cli import COMMANDS, build_parser

    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal: the page is the same on every machine
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "cmd").choices  # noqa: SLF001 - argparse's own table
    out = []
    for command in COMMANDS:
        text = subparsers[command.name].format_help().split("\ndatasets (mmer train")[0].rstrip()
        out += [f"## `mmer {command.name}`", "", command.help[0].upper() + command.help[1:] + ".", "", "```text",
                text, "```", ""]
    return "\n".join(out)


def make_reference(makefile: Path = ROOT / "Makefile") -> str:
    """A table of the ``make`` targets and their ``##`` help."""
    rows = re.findall(r"^([a-zA-Z_-]+):.*?## (.*)$", makefile.read_text(), re.M)
    return "\n".join(["| target | what it does |", "|---|---|", *[f"| `make {t}` | {cell(h)} |" for t, h in rows]])


def cell(text: str) -> str:
    """Text inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("[", "\\[")


def first_comment(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#") and not line.startswith("# @package"):
            return line.lstrip("# ").strip()
    return ""


def config_reference(root: Path = ROOT / "experiments") -> str:
    """The root config, then each group (a folder of options) with a table of its options and their YAML."""
    out = ["## The root config (`experiments/config.yaml`)", "", "```yaml", (root / "config.yaml").read_text().rstrip(),
           "```", ""]
    groups = sorted({p.parent.relative_to(root).as_posix() for p in root.rglob("*.yaml")} - {".", "experiment/emert"})
    for group in groups:
        files = sorted((root / group).glob("*.yaml"))
        select = {"experiment": "experiment=NAME", "sweeps": "SWEEP=experiments/sweeps/NAME.yaml"}.get(
            group, f"{group}=NAME")
        out += [f"## `{group}`", "", f"Chosen with `{select}`.", "", "| option | what it is |", "|---|---|"]
        out += [f"| `{f.stem}` | {cell(first_comment(f))} |" for f in files]
        out.append("")
        if group != "experiment":
            for f in files:
                out += [f'??? note "`{group}/{f.name}`"', "", "    ```yaml",
                        *["    " + line for line in f.read_text().rstrip().splitlines()], "    ```", ""]
    return "\n".join(out)


GENERATORS = {"<!-- mmer:commands -->": commands_reference, "<!-- mmer:make -->": make_reference,
              "<!-- mmer:config -->": config_reference}


def on_page_markdown(markdown: str, **kwargs) -> str:
    for marker, generate in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
