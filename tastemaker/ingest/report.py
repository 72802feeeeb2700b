"""Ingest reports: what was read, loaded, merged and rejected, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FileReport:
    """Counts for one source file.

    Playlists: ``read = loaded + rejected``. Track rows:
    ``read = loaded + merged + rejected``, where merged rows repeat a track
    already in the same playlist, and the rows of a rejected playlist count as
    rejected.
    """

    file: str
    format: str
    status: str = "loaded"  # loaded, skipped (same content already ingested) or rejected
    message: str | None = None
    playlists_read: int = 0
    playlists_loaded: int = 0
    playlists_rejected: int = 0
    tracks_read: int = 0
    tracks_loaded: int = 0
    tracks_merged: int = 0
    tracks_rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def check_totals(self) -> None:
        """Raise AssertionError when the counts do not add up; a bug, never bad input."""
        assert self.playlists_read == self.playlists_loaded + self.playlists_rejected, self
        assert self.tracks_read == self.tracks_loaded + self.tracks_merged + self.tracks_rejected, self


@dataclass
class IngestReport:
    """Counts summed over the files of one ingest command."""

    files: list[FileReport] = field(default_factory=list)

    def add(self, report: FileReport) -> None:
        report.check_totals()
        self.files.append(report)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def reasons(self) -> Counter:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.reasons)
        return total

    @property
    def files_by_status(self) -> Counter:
        return Counter(f.status for f in self.files)

    @property
    def failed_files(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "rejected"]
