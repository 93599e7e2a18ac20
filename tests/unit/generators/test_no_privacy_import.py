"""Generators never import synthpriv.privacy (issue 16): DP attaches through the trainer their
caller passes (`synthpriv.training.seam.Trainer`), so no generator knows whether it is private."""

from __future__ import annotations

import ast
from pathlib import Path

import synthpriv.generators

GENERATORS = Path(synthpriv.generators.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_generator_module_imports_privacy() -> None:
    files = sorted(GENERATORS.rglob("*.py"))
    assert len(files) >= 5  # the package is where this test looks
    offenders = {
        f"{path.name}: {name}"
        for path in files
        for name in _imported_modules(path)
        if name == "synthpriv.privacy" or name.startswith("synthpriv.privacy.")
    }
    assert not offenders, sorted(offenders)


def test_the_check_finds_a_privacy_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from synthpriv.privacy.dpsgd import calibrate\n    return calibrate\n")
    assert "synthpriv.privacy.dpsgd" in _imported_modules(probe)
