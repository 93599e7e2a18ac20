"""Nothing synthpriv reads can make it run code, and tampering is refused in one line.

- The pipeline file is read with YAML's safe loader: a Python tag is a ConfigError (exit 2)
  and the command it names never runs (a marker file it would create stays absent).
- Every string of the file that selects code (``train.generator``, a builtin table, the
  stage of ``--only``) is a lookup in a fixed table, never an import.
- A run folder whose ``train/model`` was tampered with is refused by
  ``synthpriv run --only synthesize`` with a ModelFileError (exit 6), one line, no
  traceback, and no synthesize output, even when the forger also rewrote the hashes in
  ``train/stage.json`` (without that, the upstream check refuses first: exit 7).
- The package's source keeps to that: grep-style checks over ``synthpriv/``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import synthpriv
from synthpriv.cli import app
from synthpriv.errors import ConfigError
from synthpriv.generators.model_files import (
    GENERATOR_FILE,
    META_SHA256,
    TRANSFORMER_FILE,
    WEIGHTS_FILE,
    meta_sha256,
)
from synthpriv.generators.registry import get_generator
from tests.cli.terminal import run_error_line, stage_outcomes
from tests.conftest import one_line_error, quick_demo_config

runner = CliRunner()
PACKAGE = Path(synthpriv.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


# -- the pipeline file --------------------------------------------------------------------

PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
    '!!python/object/new:subprocess.Popen [["touch", "{marker}"]]',
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_python_tag_in_the_pipeline_file_is_refused_and_runs_nothing(
    write_pipeline, tmp_path: Path, tag: str, command: str
) -> None:
    marker = tmp_path / "pwned"
    path = write_pipeline(
        f"name: demo\ndata: {{path: 'builtin:student_placements'}}\ntrain:\n  generator: {tag.format(marker=marker)}\n"
    )
    args = [command, str(path)] + (["-q", "-o", str(tmp_path / "out")] if command == "run" else [])
    one_line_error(runner.invoke(app, args), 2, str(path), "malformed YAML")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name", ["os.system", "synthpriv.cli:main", "synthpriv.generators.tvae:TVAE", "__import__"]
)
def test_train_generator_is_a_name_in_the_registry_not_an_import(write_pipeline, name: str) -> None:
    path = write_pipeline(
        {"name": "demo", "data": {"path": "builtin:student_placements"}, "train": {"generator": name}}
    )
    one_line_error(runner.invoke(app, ["check", str(path)]), 2, "train.generator", "unknown generator", "vae")
    with pytest.raises(ConfigError, match="unknown generator"):
        get_generator(name)


def test_a_module_named_as_generator_is_never_imported(
    write_pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    module = "synthpriv_test_evil_generator"
    (tmp_path / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in (module, f"{module}:Evil", f"{module}.Evil"):
        path = write_pipeline(
            {"name": "demo", "data": {"path": "builtin:student_placements"}, "train": {"generator": name}}
        )
        one_line_error(
            runner.invoke(app, ["run", "-q", str(path), "-o", str(tmp_path / "out")]), 2, "train.generator"
        )
    assert not marker.exists()
    assert module not in sys.modules


def test_other_strings_that_select_code_are_lookups(write_pipeline, tmp_path: Path) -> None:
    path = write_pipeline({"name": "demo", "data": {"path": "builtin:os.system"}})
    one_line_error(runner.invoke(app, ["check", str(path)]), 3, "unknown builtin table", "data.path")
    good = write_pipeline(quick_demo_config(), name="good.yaml")
    result = runner.invoke(
        app, ["run", "-q", str(good), "--only", "synthpriv.cli:main", "-o", str(tmp_path / "out")]
    )
    one_line_error(result, 2, "--only", "unknown stage")


# -- a tampered run folder ----------------------------------------------------------------


class _Exploit:
    """Unpickled, it runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A pipeline file and a run folder whose train stage is complete (a tiny VAE)."""
    root = tmp_path_factory.mktemp("trained")
    config = quick_demo_config(synthesize={"rows": 50})
    config["train"] = {
        "generator": "vae",
        "epochs": 1,
        "batch_size": 64,
        "params": {"hidden_dims": [8], "latent_dim": 2},
    }
    pipeline = root / "pipeline.yaml"
    pipeline.write_text(json.dumps(config))  # JSON is YAML
    run_dir = root / "run"
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--only", "train", "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    return pipeline, run_dir


def _edit_json(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _weights(payload: bytes):  # type: ignore[no-untyped-def]
    return lambda model: (model / WEIGHTS_FILE).write_bytes(payload)


TAMPERING = {
    "hyper-parameter": (
        GENERATOR_FILE,
        lambda m: _edit_json(m / GENERATOR_FILE, lambda d: d["params"].update(latent_dim=3)),
    ),
    "epochs": (GENERATOR_FILE, lambda m: _edit_json(m / GENERATOR_FILE, lambda d: d.update(epochs=999))),
    "injected-key": (
        GENERATOR_FILE,
        lambda m: _edit_json(m / GENERATOR_FILE, lambda d: d.update(loader="pickle")),
    ),
    "transformer": (
        TRANSFORMER_FILE,
        lambda m: _edit_json(m / TRANSFORMER_FILE, lambda d: d.update(min_category_count=1)),
    ),
    "truncated-weights": (
        WEIGHTS_FILE,
        lambda m: (m / WEIGHTS_FILE).write_bytes((m / WEIGHTS_FILE).read_bytes()[:100]),
    ),
    "missing-weights": (WEIGHTS_FILE, lambda m: (m / WEIGHTS_FILE).unlink()),
    "missing-generator": (GENERATOR_FILE, lambda m: (m / GENERATOR_FILE).unlink()),
    "missing-transformer": (TRANSFORMER_FILE, lambda m: (m / TRANSFORMER_FILE).unlink()),
}


def _reseal(run_dir: Path) -> None:
    """What a forger also does: rewrite train/stage.json's hashes to the tampered files, so that
    the upstream check lets them through and the model loader's own checks are what is tested."""
    stage = run_dir / "train"
    marker = json.loads((stage / "stage.json").read_text())
    marker["outputs"] = [
        {**o, "sha256": hashlib.sha256((stage / o["path"]).read_bytes()).hexdigest()}
        for o in marker["outputs"]
        if (stage / o["path"]).is_file()
    ]
    (stage / "stage.json").write_text(json.dumps(marker))


def _synthesize(pipeline: Path, run_dir: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", "-q", str(pipeline), "--only", "synthesize", "-o", str(run_dir)])


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def test_an_untouched_run_folder_synthesizes(trained: tuple[Path, Path], tmp_path: Path) -> None:
    pipeline, run_dir = trained
    copy = _copy(run_dir, tmp_path)
    result = _synthesize(pipeline, copy)
    assert result.exit_code == 0, result.output
    assert (copy / "synthesize" / "stage.json").exists()


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_tampered_model_is_refused_in_one_line(
    trained: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    pipeline, run_dir = trained
    copy = _copy(run_dir, tmp_path)
    named, tamper = TAMPERING[case]
    tamper(copy / "train" / "model")
    one_line_error(_synthesize(pipeline, copy), 7, named, "changed" if "missing" not in case else "gone")
    _reseal(copy)
    result = _synthesize(pipeline, copy)
    run_error_line(result, 6, named, table=True)  # the model is read in the stage: its table first
    assert stage_outcomes(result.stderr)["synthesize"] == "failed"
    assert not (copy / "synthesize").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("forge", [False, True], ids=["as-is", "checksums-forged"])
def test_a_pickle_disguised_as_weights_is_refused_and_never_runs(
    trained: tuple[Path, Path], tmp_path: Path, forge: bool
) -> None:
    pipeline, run_dir = trained
    copy = _copy(run_dir, tmp_path)
    model = copy / "train" / "model"
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker))
    (model / WEIGHTS_FILE).write_bytes(payload)
    if forge:  # a forger who also rewrites generator.json's checksums: weights_only=True still holds
        meta = json.loads((model / GENERATOR_FILE).read_text())
        meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
        meta[META_SHA256] = meta_sha256(meta)
        (model / GENERATOR_FILE).write_text(json.dumps(meta))
    _reseal(copy)
    line = run_error_line(_synthesize(pipeline, copy), 6, WEIGHTS_FILE, table=True)
    assert ("cannot be loaded safely" if forge else "checksum") in line
    assert not marker.exists()
    assert not (copy / "synthesize").exists()


# -- the source ---------------------------------------------------------------------------


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))) for path in SOURCES]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"


def test_sources_are_found() -> None:
    assert len(SOURCES) > 20
    assert PACKAGE / "config" / "loader.py" in SOURCES


def test_yaml_is_only_read_with_the_safe_loader() -> None:
    forbidden = re.compile(
        r"yaml\.(load|load_all|full_load|full_load_all|unsafe_load|unsafe_load_all)\s*\("
        r"|yaml\.(Loader|FullLoader|UnsafeLoader|Constructor|FullConstructor|UnsafeConstructor|CLoader|CFullLoader|CUnsafeLoader)\b"
        r"|\b(FullLoader|UnsafeLoader)\b"
        r"|from\s+yaml\s+import"
    )
    hits = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert not hits, hits
    safe_loads = 0
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                safe_loads += _dotted(node.func) == "yaml.safe_load"
                for keyword in node.keywords:
                    if keyword.arg == "Loader":  # yaml.compose / yaml.parse: the safe loader only
                        assert _dotted(keyword.value) in ("yaml.SafeLoader", "yaml.CSafeLoader"), _where(
                            path, node
                        )
    assert safe_loads >= 1  # the pipeline file is read somewhere, and through safe_load


def test_every_torch_load_passes_weights_only_true() -> None:
    calls = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch"):
                assert all(alias.name != "load" for alias in node.names), _where(path, node)
            if isinstance(node, ast.Call) and _dotted(node.func).endswith(
                ("torch.load", "jit.load", "hub.load")
            ):
                weights_only = [k.value for k in node.keywords if k.arg == "weights_only"]
                assert _dotted(node.func) == "torch.load", _where(path, node)
                assert len(weights_only) == 1 and isinstance(weights_only[0], ast.Constant), _where(
                    path, node
                )
                assert weights_only[0].value is True, _where(path, node)
                calls.append(_where(path, node))
    text_calls = sum(path.read_text(encoding="utf-8").count("torch.load(") for path in SOURCES)
    assert calls and len(calls) == text_calls, calls


def test_no_pickle_anywhere_in_the_package() -> None:
    unsafe_modules = {
        "pickle",
        "cPickle",
        "_pickle",
        "dill",
        "cloudpickle",
        "joblib",
        "shelve",
        "marshal",
        "torch.package",
    }
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & unsafe_modules, _where(path, node)
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "") not in unsafe_modules, _where(path, node)
            elif isinstance(node, ast.Attribute):
                assert node.attr not in ("read_pickle", "to_pickle"), _where(path, node)
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert isinstance(node.value, ast.Constant) and node.value.value is False, _where(path, node)


def test_no_eval_exec_or_dynamic_import_of_user_strings() -> None:
    importers: set[str] = set()
    for path, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            assert name not in ("eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec"), (
                _where(path, node)
            )
            assert name not in ("register_generator", "registry.register_generator"), _where(
                path, node
            )  # API for users only
            if name in ("importlib.import_module", "import_module"):
                importers.add(path.relative_to(PACKAGE).as_posix())
    # The only dynamic imports: lazy lookups in fixed tables of synthpriv's own modules.
    assert importers == {"__init__.py", "runner.py", "generators/registry.py"}
    from synthpriv import _LAZY
    from synthpriv.generators.registry import _GENERATORS
    from synthpriv.runner import _STAGE_CLASSES

    for table in (_LAZY, _GENERATORS, _STAGE_CLASSES):
        assert all(target.startswith("synthpriv.") for target in table.values()), table


def test_installed_loaders_have_no_known_code_execution_bug() -> None:
    """torch's weights_only unpickler could run code before 2.6 and 2.10; pyarrow's Parquet
    reader before 14.0.1 (the floors pyproject.toml pins)."""
    import pyarrow
    import torch

    def release(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])

    assert release(torch.__version__) >= (2, 10, 0), torch.__version__
    assert release(pyarrow.__version__) >= (14, 0, 1), pyarrow.__version__
