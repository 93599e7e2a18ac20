"""Pipeline file → `PipelineConfig`, with every error pointing at a line of the file.

The text is parsed twice by PyYAML's *safe* loader: once into values, once into a node
tree that remembers line and column marks. A pydantic error's ``loc`` is walked down that
tree, so a bad value is reported as ``pipeline.yaml:9:15 train.epochs: ...``.

Before any of that the text must be safe to parse: at most ``MAX_FILE_BYTES``, nested at most
``MAX_DEPTH`` deep, and expanding to at most ``MAX_VALUES`` values through YAML aliases (an
alias bomb is a few lines that expand to billions). Every mapping, at every level, must name
each key once: YAML would let the last one silently win.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from synthpriv.config.generator_params import DEFAULT_GENERATOR, PARAMS_BY_KIND, GeneratorParams
from synthpriv.config.model import BUILTIN_PREFIX, PipelineConfig
from synthpriv.errors import ConfigError

Loc = tuple[str | int, ...]


class _Mark(Protocol):
    """A place in the YAML text: PyYAML's pure-Python and libyaml marks both have these."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


#: Limits on what a pipeline file may be. A real one is a few kilobytes nested a few levels.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 500_000


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from (for error locations and relative paths)."""

    config: PipelineConfig
    path: Path | None
    text: str

    def where(self, loc: Loc) -> str:
        """``file:line:col key.path`` for a config location (the file alone if unknown)."""
        return _where(self.path, self.text, loc)

    def resolve_data_path(self, value: str) -> Path | str:
        """A data path relative to the pipeline file's folder (builtin names pass through)."""
        if value.startswith(BUILTIN_PREFIX):
            return value
        candidate = Path(value).expanduser()
        if not candidate.is_absolute() and self.path is not None:
            candidate = self.path.parent / candidate
        return candidate


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _node_at(root: yaml.Node | None, loc: Loc) -> yaml.Node | None:
    """The deepest node of ``root`` along ``loc`` (the parent when a key is absent)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                # An unknown key: point at the key itself if present, else at its parent.
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return key or node
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _where(path: Path | None, text: str, loc: Loc) -> str:
    name = str(path) if path is not None else "<config>"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    node = _node_at(root, _yaml_loc(loc))
    position = f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}" if node is not None else name
    return f"{position} {format_loc(loc)}" if loc else position


def _yaml_loc(loc: Loc) -> Loc:
    # pydantic reports the aliased `validate` section under its field name.
    return tuple("validate" if part == "validate_" else part for part in loc)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field's annotation holds (through Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (model := _model_in(arg)) is not None:
            return model
    return None


def _known_keys(loc: Loc, values: dict[str, Any]) -> list[str]:
    """The keys the mapping holding ``loc[-1]`` accepts (empty where that is not known)."""
    model: type[BaseModel] | None = PipelineConfig
    parts = list(_yaml_loc(loc[:-1]))
    while parts:
        fields = model.model_fields if model is not None else {}
        part = parts.pop(0)
        field = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        if typing.get_origin(field.annotation) is dict:
            if not parts:
                return []
            parts.pop(0)  # a mapping of names (data.columns): its values are the model
        model = _model_in(field.annotation)
    if model is GeneratorParams:  # train.params: the named generator's own settings
        train = values.get("train")
        kind = train.get("generator", DEFAULT_GENERATOR) if isinstance(train, dict) else DEFAULT_GENERATOR
        model = PARAMS_BY_KIND.get(kind)
    return [f.alias or n for n, f in model.model_fields.items()] if model is not None else []


def _friendly(error: ErrorDetails, values: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        known = _known_keys(tuple(error["loc"]), values)
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        if close:
            return f"unknown key; did you mean '{close[0]}'?"
        if known:
            return f"unknown key; remove it (keys here: {', '.join(known)})"
        return "unknown key; remove it (`synthpriv schema` lists the keys)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"])


def _position(name: str, mark: _Mark | None) -> str:
    return f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name


def _check_shape(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and alias expansion beyond MAX_VALUES.

    Runs on the event stream, which PyYAML produces without recursion and lazily, so a
    50,000-deep file stops at level MAX_DEPTH instead of overflowing the composer's stack,
    and an alias bomb stops at MAX_VALUES instead of being expanded by whatever walks it.
    """
    depth = 0
    expanded = 0  # values the document holds once every alias is replaced by its anchor's
    anchor_sizes: dict[str, int] = {}
    open_anchors: list[tuple[str | None, int]] = []
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"nested deeper than {MAX_DEPTH} levels", where=_position(name, event.start_mark)
                )
            open_anchors.append((event.anchor, expanded))
            expanded += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, started = open_anchors.pop()
            if anchor is not None:
                anchor_sizes[anchor] = expanded - started
        elif isinstance(event, yaml.ScalarEvent):
            expanded += 1
            if event.anchor is not None:
                anchor_sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            expanded += anchor_sizes.get(event.anchor or "", 1)  # an unknown anchor: the composer says so
        if expanded > MAX_VALUES:
            raise ConfigError(
                f"holds more than {MAX_VALUES:,} values once its YAML aliases are expanded; "
                "write the values out",
                where=_position(name, event.start_mark),
            )


def _check_unique_keys(node: yaml.Node | None, name: str, loc: Loc = ()) -> None:
    """Refuse a key written twice in one mapping (YAML would keep the last one silently)."""
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[tuple[str, str], yaml.Node] = {}
        for key, value in node.value:
            part = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if isinstance(key, yaml.ScalarNode):
                identity = (key.tag, key.value)
                if identity in first_seen:
                    first_line = first_seen[identity].start_mark.line + 1
                    where = f"{_position(name, key.start_mark)} {format_loc((*loc, part))}"
                    raise ConfigError(f"duplicate key (first at line {first_line})", where=where)
                first_seen[identity] = key
            _check_unique_keys(value, name, (*loc, part))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_unique_keys(item, name, (*loc, index))


def _read_yaml(text: str, name: str) -> Any:
    """The values of a pipeline file's text, once it is known to be safe and unambiguous."""
    try:
        _check_shape(text, name)
        _check_unique_keys(yaml.compose(text, Loader=yaml.SafeLoader), name)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ConfigError(
            f"malformed YAML: {problem}", where=_position(name, getattr(exc, "problem_mark", None))
        ) from None


def parse_config(text: str, path: Path | None = None) -> LoadedConfig:
    """Validate pipeline-file text; raises ConfigError naming the line and key."""
    name = str(path) if path is not None else "<config>"
    values = _read_yaml(text, name)
    if not isinstance(values, dict):
        raise ConfigError("the pipeline file must be a mapping of keys (name, data, train, ...)", where=name)
    try:
        config = PipelineConfig.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(
            _friendly(first, values) + more, where=_where(path, text, tuple(first["loc"]))
        ) from None
    return LoadedConfig(config=config, path=path, text=text)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a pipeline file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            # Read one byte past the limit rather than the whole file: it may be /dev/zero.
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(
                f"pipeline file is larger than {MAX_FILE_BYTES // (1 << 20)} MiB", where=str(path)
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("pipeline file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read pipeline file: {type(exc).__name__}", where=str(path)) from None
    return parse_config(text, path)
