"""No literal seeds in library code (issue 16, must-have 6): every random draw derives from the
run's seed through `synthpriv.runtime.seeding` (named streams).

The check reads the code, not strings or comments (docstrings may show ``sample(1000, seed=1)``):
a seed keyword, a ``random_state`` or a generator constructor given an integer literal, a
module constant named ``*_SEED`` holding one, and a parameter named like a seed whose default
is an integer literal are refused.

Allowed defaults, the documented Python API of a generator (README, "Python API"):
``Generator(seed=0)``, ``Generator.sample(seed=0)`` and ``Generator.sample_batches(seed=0)``.
A user fitting a generator in a notebook, without a pipeline, gets reproducible results without
naming a seed; the pipeline always passes one from a stream. Anywhere else a seed has no
default: a caller that forgets it gets a TypeError, not a silent stream 0 shared with
every other caller (and for DP noise, a seed an adversary knows).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "synthpriv"
#: The one module that turns the run's seed into streams.
SEEDING = PACKAGE / "runtime" / "seeding.py"
#: (module, function qualname) whose seed parameter may default to a literal: the generator API.
ALLOWED_DEFAULTS = {
    ("generators/base.py", "Generator.__init__"),
    ("generators/base.py", "Generator.sample"),
    ("generators/base.py", "Generator.sample_batches"),
}
#: Calls whose first argument is a seed.
SEEDED_CALLS = {"default_rng", "manual_seed", "SeedSequence", "seed", "RandomState", "Random"}
SEED_KEYWORDS = {"seed", "random_state", "rng_seed", "random_seed"}


def _is_int_literal(node: ast.AST | None) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


class _SeedLiterals(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[str] = []
        self.found: list[str] = []

    def _say(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.module}:{getattr(node, 'lineno', '?')}: {what}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualname = ".".join([*self.scope, node.name])
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        defaults += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in defaults:
            allowed = (self.module, qualname) in ALLOWED_DEFAULTS
            if "seed" in arg.arg and _is_int_literal(default) and not allowed:
                self._say(node, f"{qualname}({arg.arg}=<literal>)")
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]  # the same check for both kinds

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name in SEEDED_CALLS and node.args and _is_int_literal(node.args[0]):
            self._say(node, f"{name}(<literal>)")
        for keyword in node.keywords:
            if keyword.arg in SEED_KEYWORDS and _is_int_literal(keyword.value):
                self._say(node, f"{name}({keyword.arg}=<literal>)")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if (
                isinstance(target, ast.Name)
                and target.id.upper().endswith("SEED")
                and _is_int_literal(node.value)
            ):
                self._say(node, f"{target.id} = <literal>")
        self.generic_visit(node)


def literal_seeds(source: str, module: str) -> list[str]:
    visitor = _SeedLiterals(module)
    visitor.visit(ast.parse(source))
    return visitor.found


def test_no_library_module_holds_a_literal_seed() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != SEEDING:
            found += literal_seeds(path.read_text(), path.relative_to(PACKAGE).as_posix())
    assert not found, "derive these from the run's seed (synthpriv.runtime.seeding):\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_literal_seed() -> None:
    source = '''
"""Docstrings may show sample(10, seed=1)."""
import numpy as np
ROW_ORDER_SEED = 7
def draw(n, seed=0):
    return np.random.default_rng(0).permutation(n)
def fit(model):
    model.fit(random_state=3)
    torch.Generator().manual_seed(-1)
class Generator:
    def sample(self, n, *, seed: int = 0): ...
'''
    found = literal_seeds(source, "attacks/new.py")
    assert [line.split(": ", 1)[1] for line in found] == [
        "ROW_ORDER_SEED = <literal>",
        "draw(seed=<literal>)",
        "default_rng(<literal>)",
        "fit(random_state=<literal>)",
        "manual_seed(<literal>)",
        "Generator.sample(seed=<literal>)",  # allowed in generators/base.py only
    ]
    assert not any("Generator.sample" in line for line in literal_seeds(source, "generators/base.py"))
