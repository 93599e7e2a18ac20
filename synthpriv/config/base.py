"""The base of every config model: unknown keys are errors, values are immutable, and a
boolean is never read as a number."""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _leaf_kinds(annotation: Any) -> frozenset[type]:
    """The scalar types an annotation accepts anywhere inside it (through unions, containers,
    Annotated); a Literal contributes the types of its values."""
    if typing.get_origin(annotation) is Literal:
        return frozenset(type(value) for value in typing.get_args(annotation))
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return frozenset({annotation})
    kinds: frozenset[type] = frozenset()
    for arg in typing.get_args(annotation):
        if arg is not Ellipsis:
            kinds |= _leaf_kinds(arg)
    return kinds


def _wants_number_not_bool(annotation: Any) -> bool:
    kinds = _leaf_kinds(annotation)
    return bool(kinds & {int, float}) and bool not in kinds


def _holds_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_bool(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_bool(item) for item in value.values())
    return False


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads `true` as 1 for an int or float field (`epsilon: true` would train with
        # epsilon 1). Every number field of every config model, generator settings included,
        # refuses booleans here; ints still pass where floats are expected, and numbers written
        # as text (PyYAML reads `1e-6` as a string) are still parsed by pydantic as before.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_bool(value) and _wants_number_not_bool(field.annotation):
            raise PydanticCustomError("bool_not_number", "a number is expected here, not true/false")
        return value
