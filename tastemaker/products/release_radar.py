"""Release Radar: recent tracks by the artists a listener plays most.

A track's date is its release date where one is given (``release_dates``),
else the day the store first saw it. Candidates are the catalogue's tracks
(the whole store, so tracks that arrived after the model was trained count
too) by the listener's ``top_artists`` most played artists, minus tracks the
listener has played. Tracks dated within ``window_days`` before ``today``
are recent. The list takes the newest first, then the more played artist,
then the more popular track, with at most ``per_artist`` tracks per artist.
When no candidate is recent, the newest candidates are listed instead, and
the fallback flag explains why. A track's score is minus its age in days.

For a HetRec listener, which tracks they played is unknown, so only the
artist counts: every track of a top artist is a candidate.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..ingest.names import synthetic_artist_uri
from .common import validate_count
from .listener import Listener
from .result import ProductResult
from .space import TrackSpace

PRODUCT = "release-radar"
DEFAULT_N = 30
DEFAULT_TOP_ARTISTS = 20
DEFAULT_PER_ARTIST = 3
DEFAULT_WINDOW_DAYS = 28
FALLBACK_NO_ARTISTS = "no played artist of this listener is in the catalogue"
FALLBACK_NONE_RECENT = "no track of your top artists is dated within the last {days} days: the newest ones instead"
FALLBACK_NO_TRACKS = "the catalogue has no unplayed track by your top artists"


def read_release_dates(path) -> dict[str, date]:
    """Read a CSV of ``track_uri,release_date`` (ISO dates, or a year) with a header row."""
    import csv
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the release dates ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"track_uri", "release_date"} <= set(reader.fieldnames):
        raise InputError(f"{path}: expected a CSV with the columns track_uri and release_date, got "
                         f"{reader.fieldnames}")
    dates: dict[str, date] = {}
    for line, record in enumerate(reader, start=2):
        raw = (record.get("release_date") or "").strip()
        uri = (record.get("track_uri") or "").strip()
        if not uri:
            raise InputError(f"{path}, line {line}, field 'track_uri': missing value; give the track's URI")
        try:
            dates[uri] = date(int(raw), 1, 1) if len(raw) == 4 and raw.isdigit() else date.fromisoformat(raw)
        except ValueError:
            raise InputError(f"{path}, line {line}, field 'release_date': invalid date {raw!r}; expected "
                             "YYYY-MM-DD or YYYY") from None
    return dates


def release_radar(space: TrackSpace, listener: Listener, catalogue: pa.Table | None = None, N: int = DEFAULT_N,
                  top_artists: int = DEFAULT_TOP_ARTISTS, per_artist: int = DEFAULT_PER_ARTIST,
                  window_days: int = DEFAULT_WINDOW_DAYS, release_dates: dict[str, date] | None = None,
                  today: date | None = None) -> ProductResult:
    """Make the listener's Release Radar from ``catalogue`` (track_uri, name, artist_name, first_seen).

    Without a catalogue the space's own tracks are the candidates.
    """
    validate_count("N", N)
    validate_count("top_artists", top_artists)
    validate_count("per_artist", per_artist)
    validate_count("window_days", window_days, minimum=0)
    today = today or datetime.now(timezone.utc).date()
    release_dates = release_dates or {}
    result = ProductResult(PRODUCT, "Release Radar", details={"window_days": window_days, "today": today.isoformat()})
    top = listener.top_artists(top_artists)
    if len(top) == 0:
        result.fallback = FALLBACK_NO_ARTISTS
        return result
    rank_of = {int(a): r for r, a in enumerate(top.tolist(), start=1)}
    result.details["artists"] = [str(space.artist_names[a]) for a in top]

    uris, artists, dates, known_release = _candidates(space, listener, catalogue, rank_of, release_dates)
    if len(uris) == 0:
        result.fallback = FALLBACK_NO_TRACKS
        return result
    age = (np.datetime64(today, "D") - dates.astype("datetime64[D]")).astype(np.int64)
    recent = (age >= 0) & (age <= window_days)
    if not recent.any():
        result.fallback = FALLBACK_NONE_RECENT.format(days=window_days)
        recent = np.ones(len(uris), dtype=bool)
    items = np.array([space.tracks.get(u) for u in uris], dtype=np.int64)
    popularity = np.where(items >= 0, space.popularity[np.maximum(items, 0)], 0.0)
    artist_rank = np.array([rank_of[a] for a in artists])
    order = np.lexsort((uris, -popularity, artist_rank, age))
    order = order[recent[order]]

    per: dict[int, int] = {}
    for row in order.tolist():
        if len(result) >= N:
            break
        artist = int(artists[row])
        if per.get(artist, 0) >= per_artist:
            continue
        per[artist] = per.get(artist, 0) + 1
        day = str(dates[row].astype("datetime64[D]"))
        when = f"released {day}" if known_release[row] else f"first seen in the store on {day} (release date unknown)"
        plays = listener.artist_plays[artist]
        text = (f"new from {space.artist_names[artist]}, your number {rank_of[artist]} artist "
                f"({plays:,.0f} {'tracks' if listener.kind == 'playlist' else 'plays'}); {when}")
        result.append(str(uris[row]), float(-age[row]), "release", text)
    return result


def _candidates(space: TrackSpace, listener: Listener, catalogue: pa.Table | None, rank_of: dict[int, int],
                release_dates: dict[str, date]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return URIs, artist indices, dates and whether the date is a release date, of unplayed top-artist tracks."""
    if catalogue is None:
        uris = np.asarray(space.tracks.ids, dtype=object)
        artists = space.track_artist.copy()
        seen = space.first_seen
    else:
        uris = np.asarray(catalogue.column("track_uri").to_pylist(), dtype=object)
        names = catalogue.column("artist_name").to_pylist()
        key_of = {name: space.artists.get(synthetic_artist_uri(name)) for name in set(n for n in names if n)}
        artists = np.array([key_of.get(n, -1) if n else -1 for n in names], dtype=np.int64)
        seen = catalogue.column("first_seen").to_numpy(zero_copy_only=False).astype("datetime64[us]")
    keep = np.isin(artists, list(rank_of))
    played_items = listener.played if listener.kind != "artist-plays" else np.zeros(len(space), dtype=bool)
    for row in np.flatnonzero(keep):
        uri = uris[row]
        item = space.tracks.get(uri)
        if uri in listener.played_uris or (item >= 0 and played_items[item]):
            keep[row] = False
    uris, artists, seen = uris[keep], artists[keep], seen[keep]
    known_release = np.array([u in release_dates for u in uris], dtype=bool)
    dates = np.array([np.datetime64(release_dates[u], "us") if k else s for u, k, s in zip(uris, known_release, seen)],
                     dtype="datetime64[us]")
    usable = ~np.isnat(dates)
    return uris[usable], artists[usable], dates[usable], known_release[usable]
