"""Readers for each source format; each returns an ingest report."""

from .mpd import ingest_challenge, ingest_mpd
from .report import FileReport, IngestReport

__all__ = ["FileReport", "IngestReport", "ingest_challenge", "ingest_mpd"]
