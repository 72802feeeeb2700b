"""Exceptions and warnings of tastemaker.

    TastemakerError
    ├── InputError        bad input data or arguments: file, record, field, value, fix
    ├── StoreError        the data directory or the DuckDB store cannot be used
    ├── BundleError       a model bundle is missing, inconsistent or of another format
    └── ModelError        a model was used before fitting or with mismatched shapes

The CLI prints the message of any TastemakerError without a traceback and exits
non-zero, so every message must say what failed, on which value, and the fix.
"""

from __future__ import annotations


class TastemakerError(Exception):
    """Base class of every error tastemaker raises on purpose."""


class InputError(TastemakerError, ValueError):
    """Invalid input: a file, a record in it, or a command-line argument."""


class StoreError(TastemakerError):
    """The store cannot be opened, created or written."""


class BundleError(TastemakerError):
    """A model bundle cannot be loaded as written."""


class ModelError(TastemakerError):
    """A model was used in a way its state does not allow."""


class DataWarning(UserWarning):
    """Input data was accepted, but something in it looks wrong."""


def describe_location(file: str | None = None, record: int | str | None = None, field: str | None = None) -> str:
    """Format where a bad value sits, for example ``a.json, playlist 3, field 'pid'``."""
    parts = []
    if file is not None:
        parts.append(str(file))
    if record is not None:
        parts.append(f"record {record}" if isinstance(record, int) else str(record))
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)
