"""The kinds a column can have: the words a pipeline file's `columns:` section may use.

Defined here, at the bottom of the layers, so that the config validates a declared kind
without importing the data package (`synthpriv.data.schema` infers kinds and re-exports this).
"""

from __future__ import annotations

from enum import StrEnum


class ColumnKind(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    ID = "id"
