"""Maps between external string ids and dense matrix indices."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import BundleError


class IdMap:
    """A fixed list of distinct string ids; index ``i`` is the i-th id.

    Saved as UTF-8 text, one id per line, so a bundle never needs pickle.
    """

    def __init__(self, ids: Iterable[str]):
        self.ids = np.asarray(list(ids), dtype=object)
        self._index = {external: i for i, external in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise ValueError(f"ids must be distinct: {len(self.ids)} given, {len(self._index)} distinct")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external: str) -> bool:
        return external in self._index

    def index(self, external: str) -> int:
        """Return the dense index of ``external``; raise KeyError when unknown."""
        return self._index[external]

    def get(self, external: str, default: int = -1) -> int:
        return self._index.get(external, default)

    def indices(self, externals: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Return the indices of known ids, in order, and the list of unknown ids."""
        known, unknown = [], []
        for external in externals:
            position = self._index.get(external)
            if position is None:
                unknown.append(external)
            else:
                known.append(position)
        return np.asarray(known, dtype=np.int64), unknown

    def external(self, indices: np.ndarray | Iterable[int]) -> list[str]:
        return [self.ids[i] for i in indices]

    def save(self, path: Path) -> None:
        for external in self.ids:
            if "\n" in external or "\r" in external:
                raise ValueError(f"id {external!r} contains a line break and cannot be saved as a line of text")
        path.write_text("".join(f"{external}\n" for external in self.ids), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "IdMap":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BundleError(f"cannot read the id map {path}: {exc}") from exc
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        try:
            return cls(lines)
        except ValueError as exc:
            raise BundleError(f"the id map {path} is invalid: {exc}") from exc
