"""Normalised artist and track names, and the synthetic ids built from them.

Sources without Spotify URIs (account-data exports, Last.fm, ListenBrainz,
HetRec) identify a track by artist and track name only. Two spellings of the
same recording should meet in the catalogue, so names are compared after
normalisation: Unicode compatibility folding, accents removed, case folded,
``&`` read as ``and``, featured artists and remaster notes dropped, and
punctuation collapsed to single spaces.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

SYNTHETIC_TRACK_PREFIX = "tastemaker:track:"
SYNTHETIC_ARTIST_PREFIX = "tastemaker:artist:"
KEY_SEPARATOR = "\x1f"

# "Artist feat. Other", "Artist ft. Other", "Artist featuring Other".
_FEATURED_ARTIST = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+.*$", re.IGNORECASE)
# "(feat. X)", "[with X]", "(Remastered 2011)", "(2011 Remaster)".
_TRACK_BRACKET_NOTE = re.compile(
    r"\s*[\(\[][^\)\]]*\b(?:feat|ft|featuring|with|remaster|remastered)\b[^\)\]]*[\)\]]", re.IGNORECASE
)
# "Title - Remastered 2009", "Title - 2011 Remaster".
_TRACK_DASH_NOTE = re.compile(r"\s+-\s+[^-]*\bremaster(?:ed)?\b.*$", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 18)
def normalise_name(text: str) -> str:
    """Return ``text`` folded for comparison; a name of punctuation only keeps its case-folded form."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    folded = folded.replace("&", " and ")
    words = _NON_WORD.sub(" ", folded).split()
    if not words:
        # Names such as "!!!" or "?" would vanish; keep them distinct.
        return " ".join(text.casefold().split())
    return " ".join(words)


def normalise_artist(name: str) -> str:
    """Normalise an artist name, dropping featured artists and a leading "the"."""
    base = _FEATURED_ARTIST.sub("", name.strip()) or name
    normal = normalise_name(base)
    if normal.startswith("the ") and len(normal) > 4:
        normal = normal[4:]
    return normal


def normalise_track(name: str) -> str:
    """Normalise a track name, dropping featured-artist and remaster notes."""
    base = _TRACK_DASH_NOTE.sub("", _TRACK_BRACKET_NOTE.sub("", name.strip())) or name
    return normalise_name(base)


def track_key(artist_name: str, track_name: str) -> str:
    """Return the key under which a track is matched by name: normalised artist and track."""
    return normalise_artist(artist_name) + KEY_SEPARATOR + normalise_track(track_name)


def synthetic_track_uri(artist_name: str, track_name: str) -> str:
    """Return the stable catalogue id of a track known only by its names."""
    digest = hashlib.blake2b(track_key(artist_name, track_name).encode("utf-8"), digest_size=16).hexdigest()
    return SYNTHETIC_TRACK_PREFIX + digest


def synthetic_artist_uri(artist_name: str) -> str:
    """Return the stable id of an artist known only by name."""
    digest = hashlib.blake2b(normalise_artist(artist_name).encode("utf-8"), digest_size=16).hexdigest()
    return SYNTHETIC_ARTIST_PREFIX + digest
