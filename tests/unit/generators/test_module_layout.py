"""The generators package has no import circle and no sibling reaches into another's private names.

Each module is imported alone in a fresh interpreter (an import circle shows up as an
ImportError only for some import orders, so one shared interpreter would hide it), and the
import statements are read with `ast` to hold the shape: the base class imports neither the
registry nor the model files; siblings share helpers through public modules (`layers`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import synthpriv.generators

PACKAGE = Path(synthpriv.generators.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def _imports(module: str) -> list[tuple[str, list[str]]]:
    """``(imported module, names)`` for every import in ``module``, at any depth."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def test_the_package_is_listed() -> None:
    assert {"base", "registry", "model_files", "layers", "conditions", "heads"} <= set(MODULES)


#: Imports each module first, with every synthpriv module forgotten before it (torch stays loaded:
#: only the import order of our own modules matters for a circle).
_IMPORT_EACH_FIRST = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "synthpriv" or m.startswith("synthpriv.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
sys.exit("\\n".join(failed) or None)
"""


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    names = [f"synthpriv.generators.{module}" for module in MODULES]
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_FIRST, *names],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_base_class_imports_neither_the_registry_nor_the_model_files() -> None:
    imported = {module for module, _ in _imports("base")}
    assert not imported & {"synthpriv.generators.registry", "synthpriv.generators.model_files"}


def test_only_model_files_imports_the_registry_at_run_time() -> None:
    """The registry names generator classes (importing base only for type checking); it must not
    be imported back by what it registers."""
    users = {m for m in MODULES if any(i == "synthpriv.generators.registry" for i, _ in _imports(m))}
    assert users == {"model_files"}


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_a_private_name_of_a_sibling(module: str) -> None:
    private = [
        f"{source}.{name}"
        for source, names in _imports(module)
        if source.startswith("synthpriv.")
        for name in names
        if name.startswith("_")
    ]
    assert private == []
