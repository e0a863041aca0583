"""The house rules that import-linter (``make lint``) does not check: imports of mmer's own modules at the top of
their file, few loose modules, small files, one module per command, and nothing users read pointing outside the
repository."""

import ast
import importlib
from pathlib import Path

import pytest

from mmer.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
LINK = REPO / "src" / "mmer" / "data_modules"  # a link to data_modules/, so that import-linter sees one package
SOURCES = sorted([*(p for p in (REPO / "src" / "mmer").rglob("*.py") if not p.is_relative_to(LINK)),
                  *(REPO / "data_modules").rglob("*.py")])


def own_imports_inside_functions(path: Path) -> list[str]:
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                         [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                found += [f"{path.name}:{node.lineno} {n}" for n in names if n == "mmer" or n.startswith("mmer.")]
    return found


def test_sources_are_found():
    assert len(SOURCES) > 100 and all("src/mmer/data_modules" not in str(p) for p in SOURCES)


def test_imports_of_mmer_stand_at_the_top_of_their_file():
    """An import moved inside a function hides an import circle from readers (and from import-linter)."""
    inside = [i for p in SOURCES for i in own_imports_inside_functions(p)]
    assert not inside, inside


def test_the_package_root_holds_layers_not_modules():
    loose = sorted(p.name for p in (REPO / "src" / "mmer").glob("*.py"))
    assert len(loose) <= 6, loose


def test_no_source_file_needs_a_scroll_bar():
    long = {str(p.relative_to(REPO)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_every_command_is_one_module_in_the_table():
    modules = {p.stem for p in (REPO / "src" / "mmer" / "commands").glob("*.py")} - {"__init__", "options"}
    assert modules == {c.module for c in COMMANDS}
    for command in COMMANDS:
        module = importlib.import_module(f"mmer.commands.{command.module}")
        assert callable(module.run) and callable(command.arguments), command.name


@pytest.mark.parametrize("folder", ["src", "data_modules", "experiments", "docs", "README.md", "Makefile"])
def test_nothing_users_read_points_outside_the_repository(folder):
    """The specs live in docs/; only the tests and CI that read real recordings look beside the checkout."""
    root = REPO / folder
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and p.suffix in
                                           (".py", ".yaml", ".md", ".txt", ".toml", "")]
    pointing = [str(p.relative_to(REPO)) for p in files if "../shared" in p.read_text(errors="ignore")]
    assert not pointing, pointing
