"""A seeded generator of listening histories, written as Spotify exports.

The data is generated, not real: it exists so that tests, the per-user
evaluation and the skip model run anywhere, and so that what they should
find is known. Users and tracks have latent taste vectors; a track's
artist fixes most of its vector. Each user listens in sessions: a playlist
drawn from their taste, an artist they like, or radio that explores further.
A play is skipped with a probability that falls with the user's affinity for
the track and rises on radio and right after another skip; skipped plays end
early (85% of them inside 30 seconds) with ``fwdbtn``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

CONTEXTS = ("playlist", "artist", "radio")
CONTEXT_SHARES = (0.5, 0.25, 0.25)
DEVICES = (
    "Android OS 11 API 30 (Google, Pixel 4a)", "iOS 15.4 (iPhone13,2)", "Windows 10 (10.0.19044; x64)",
    "OS X 12.3.1 [x86 8]", "web_player linux ;chrome 100.0.4896.75;desktop",
    "Partner sonos_speaker Sonos;One;", "cast_to_device",
)
COUNTRIES = ("DE", "US", "GB", "SE", "BR", "FR", "JP", "MX")
SESSION_GAP = timedelta(minutes=31)  # more than the default 30-minute session split

# Skip model: logit = base - taste * z(affinity) + radio + after_skip.
SKIP_BASE = 1.0
SKIP_TASTE = 1.4
SKIP_RADIO = 0.8
SKIP_AFTER_SKIP = 0.7


@dataclass
class GeneratedListening:
    """Generated catalogue and plays; plays are ordered by user and time.

    ``ts`` is microseconds since the epoch (UTC) when each play ended.
    ``affinity`` is the user-by-track taste score the plays were drawn from.
    """

    track_uris: np.ndarray
    track_names: np.ndarray
    artist_names: np.ndarray
    album_names: np.ndarray
    duration_ms: np.ndarray
    track_artist: np.ndarray
    user_names: list[str]
    user: np.ndarray
    track: np.ndarray
    ts: np.ndarray
    ms_played: np.ndarray
    skipped: np.ndarray
    reason_start: np.ndarray
    reason_end: np.ndarray
    shuffle: np.ndarray
    context: np.ndarray
    session: np.ndarray
    affinity: np.ndarray

    @property
    def n_plays(self) -> int:
        return len(self.user)

    def events_table(self) -> pa.Table:
        """Return the plays in the column layout of the store's play events (user ids start at 1)."""
        return pa.table({
            "user_id": pa.array(self.user + 1, pa.int64()),
            "ts": pa.array(self.ts, pa.timestamp("us")),
            "track_uri": pa.array(self.track_uris[self.track].tolist(), pa.string()),
            "ms_played": pa.array(self.ms_played, pa.int64()),
            "skipped": pa.array(self.skipped, pa.bool_()),
            "reason_start": pa.array(self.reason_start.tolist(), pa.string()),
            "reason_end": pa.array(self.reason_end.tolist(), pa.string()),
            "shuffle": pa.array(self.shuffle, pa.bool_()),
            "artist_name": pa.array(self.artist_names[self.track_artist[self.track]].tolist(), pa.string()),
        })


def generate_listening(n_users: int = 100, n_tracks: int = 3000, n_artists: int = 300,
                       sessions_per_user: int = 40, mean_session_length: float = 12.0, factors: int = 8,
                       days: int = 365, start: datetime = datetime(2021, 1, 1), seed: int = 0) -> GeneratedListening:
    """Generate a catalogue and the plays of ``n_users`` users; the same arguments give the same data."""
    rng = np.random.default_rng(seed)

    # Catalogue: artists with taste vectors, tracks near their artist, Zipf-like popularity.
    artist_vectors = rng.normal(size=(n_artists, factors))
    track_artist = np.sort(rng.integers(0, n_artists, size=n_tracks))
    track_vectors = artist_vectors[track_artist] + 0.5 * rng.normal(size=(n_tracks, factors))
    track_vectors /= np.linalg.norm(track_vectors, axis=1, keepdims=True)
    popularity = 1.0 / np.arange(1, n_tracks + 1) ** 0.8
    popularity = popularity[rng.permutation(n_tracks)]
    duration_ms = rng.integers(120_000, 330_000, size=n_tracks)
    alphabet = np.array(list(string.ascii_letters + string.digits))
    track_uris = np.array(["spotify:track:" + "".join(rng.choice(alphabet, 22)) for _ in range(n_tracks)], object)
    artist_names = np.array([f"{_word(rng, 2)} {_word(rng, 3)}" for _ in range(n_artists)], object)
    track_names = np.array([f"{_word(rng, 2)} {_word(rng, 2)}" for _ in range(n_tracks)], object)
    album_names = np.array([f"{_word(rng, 3)}" for _ in range(n_artists)], object)[track_artist]

    user_vectors = rng.normal(size=(n_users, factors))
    user_vectors /= np.linalg.norm(user_vectors, axis=1, keepdims=True)
    affinity = (user_vectors @ track_vectors.T).astype(np.float32)
    log_popularity = np.log(popularity)
    start_us = int(start.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)

    columns: dict[str, list[np.ndarray]] = {k: [] for k in (
        "user", "track", "ts", "ms_played", "skipped", "reason_start", "reason_end", "shuffle", "context",
        "session")}
    next_session = 0
    for u in range(n_users):
        n_sessions = max(1, int(rng.poisson(sessions_per_user)))
        lengths = np.maximum(1, rng.geometric(1.0 / mean_session_length, size=n_sessions))
        contexts = rng.choice(len(CONTEXTS), size=n_sessions, p=CONTEXT_SHARES)
        z = (affinity[u] - affinity[u].mean()) / (affinity[u].std() + 1e-9)
        taste = np.exp(3.0 * z + log_popularity)
        taste /= taste.sum()
        explore = np.exp(1.0 * z + log_popularity)
        explore /= explore.sum()
        artist_scores = np.bincount(track_artist, weights=taste, minlength=n_artists)
        artist_scores /= artist_scores.sum()

        tracks, session_index, positions = [], [], []
        for s in range(n_sessions):
            if CONTEXTS[contexts[s]] == "artist":
                artist = rng.choice(n_artists, p=artist_scores)
                pool = np.flatnonzero(track_artist == artist)
                weights = taste[pool] / taste[pool].sum()
                chosen = rng.choice(pool, size=lengths[s], p=weights)
            else:
                chosen = rng.choice(n_tracks, size=lengths[s], p=taste if contexts[s] == 0 else explore)
            tracks.append(chosen)
            session_index.append(np.full(lengths[s], s))
            positions.append(np.arange(lengths[s]))
        track = np.concatenate(tracks)
        session_of = np.concatenate(session_index)
        position = np.concatenate(positions)
        context = contexts[session_of]

        # Skips, position by position, because each depends on the previous one.
        skipped = np.zeros(len(track), dtype=bool)
        base = SKIP_BASE - SKIP_TASTE * z[track] + SKIP_RADIO * (context == 2)
        starts = np.flatnonzero(position == 0)
        for p in range(int(lengths.max())):
            rows = starts[lengths > p] + p
            logit = base[rows] + (SKIP_AFTER_SKIP * skipped[rows - 1] if p > 0 else 0.0)
            skipped[rows] = rng.random(len(rows)) < 1.0 / (1.0 + np.exp(-logit))

        # Durations: skips end early, mostly inside the first 30 seconds.
        full = duration_ms[track]
        late = rng.random(len(track)) < 0.15
        early_ms = rng.integers(500, 30_000, size=len(track))
        late_ms = (full * rng.uniform(0.2, 0.6, size=len(track))).astype(np.int64)
        ms_played = np.where(skipped, np.where(late, late_ms, early_ms), full)
        last = np.r_[position[1:] == 0, True]
        stopped = last & ~skipped & (rng.random(len(track)) < 0.3)
        ms_played = np.where(stopped, (full * rng.uniform(0.3, 0.9, size=len(track))).astype(np.int64), ms_played)
        reason_end = np.where(skipped, "fwdbtn", np.where(stopped, "endplay", "trackdone")).astype(object)
        previous_end = np.concatenate([np.array(["trackdone"], dtype=object), reason_end[:-1]])
        reason_start = np.where(position == 0, rng.choice(["clickrow", "playbtn", "appload"], size=len(track)),
                                previous_end).astype(object)
        shuffle = (rng.random(n_sessions) < 0.5)[session_of] & (context != 1)

        # Times: sessions spread over the period, never closer than SESSION_GAP.
        gaps_ms = rng.integers(0, 4000, size=len(track))
        offsets_ms = np.cumsum(ms_played + gaps_ms) - (ms_played + gaps_ms)
        session_start_ms = offsets_ms[starts]
        within = offsets_ms - session_start_ms[session_of]
        durations = np.add.reduceat(ms_played + gaps_ms, starts)
        begins = np.sort(rng.uniform(0, days * 86_400_000, size=n_sessions)).astype(np.int64)
        gap_ms = int(SESSION_GAP.total_seconds() * 1000)
        for s in range(1, n_sessions):
            begins[s] = max(begins[s], begins[s - 1] + durations[s - 1] + gap_ms)
        end_ms = begins[session_of] + within + ms_played
        ts = start_us + end_ms * 1000

        columns["user"].append(np.full(len(track), u))
        columns["track"].append(track)
        columns["ts"].append(ts)
        columns["ms_played"].append(ms_played)
        columns["skipped"].append(skipped)
        columns["reason_start"].append(reason_start)
        columns["reason_end"].append(reason_end)
        columns["shuffle"].append(shuffle)
        columns["context"].append(np.asarray(CONTEXTS, dtype=object)[context])
        columns["session"].append(session_of + next_session)
        next_session += n_sessions

    merged = {k: np.concatenate(v) for k, v in columns.items()}
    return GeneratedListening(
        track_uris=track_uris, track_names=track_names, artist_names=artist_names, album_names=album_names,
        duration_ms=duration_ms, track_artist=track_artist,
        user_names=[f"listener{u:05d}" for u in range(n_users)], affinity=affinity, **merged,
    )


def extended_history_rows(data: GeneratedListening, users: list[int] | None = None, episode_share: float = 0.01,
                          seed: int = 0) -> list[dict]:
    """Return the plays of ``users`` (all by default) as Extended Streaming History records, with episodes mixed in.

    Each record carries the fields an export has, including the IP address,
    user agent and account name that ingest must drop.
    """
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(np.isin(data.user, users)) if users is not None else np.arange(data.n_plays)
    devices = rng.choice(len(DEVICES), size=len(data.user_names))
    countries = rng.choice(len(COUNTRIES), size=len(data.user_names))
    records = []
    for i in rows.tolist():
        u, t = int(data.user[i]), int(data.track[i])
        ts = _iso(int(data.ts[i]))
        record = {
            "ts": ts, "username": data.user_names[u], "platform": DEVICES[devices[u]],
            "ms_played": int(data.ms_played[i]), "conn_country": COUNTRIES[countries[u]],
            "ip_addr_decrypted": f"10.{u % 250}.{t % 250}.{i % 250}", "user_agent_decrypted": "unknown",
            "master_metadata_track_name": data.track_names[t],
            "master_metadata_album_artist_name": data.artist_names[data.track_artist[t]],
            "master_metadata_album_album_name": data.album_names[t], "spotify_track_uri": data.track_uris[t],
            "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
            "reason_start": data.reason_start[i], "reason_end": data.reason_end[i],
            "shuffle": bool(data.shuffle[i]), "skipped": bool(data.skipped[i]), "offline": False,
            "offline_timestamp": int(data.ts[i] // 1_000_000) - int(data.ms_played[i] // 1000),
            "incognito_mode": False,
        }
        records.append(record)
        if rng.random() < episode_share:
            episode = dict(record, master_metadata_track_name=None, master_metadata_album_artist_name=None,
                           master_metadata_album_album_name=None, spotify_track_uri=None,
                           episode_name="Episode " + _word(rng, 2), episode_show_name="Show " + _word(rng, 2),
                           spotify_episode_uri="spotify:episode:" + "".join(rng.choice(list(string.digits), 22)),
                           ts=_iso(int(data.ts[i]) + 1_000_000), ms_played=int(rng.integers(1000, 3_000_000)))
            records.append(episode)
    return records


def write_extended_history(data: GeneratedListening, out_dir: Path, users: list[int] | None = None,
                           rows_per_file: int = 15_000, episode_share: float = 0.01, seed: int = 0) -> list[Path]:
    """Write Extended Streaming History files ``Streaming_History_Audio_<years>_<n>.json`` and return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = extended_history_rows(data, users, episode_share, seed)
    paths = []
    for n, begin in enumerate(range(0, len(records), rows_per_file)):
        chunk = records[begin:begin + rows_per_file]
        years = f"{chunk[0]['ts'][:4]}-{chunk[-1]['ts'][:4]}"
        path = out_dir / f"Streaming_History_Audio_{years}_{n}.json"
        path.write_text(json.dumps(chunk, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def write_account_history(data: GeneratedListening, out_dir: Path, user: int, zone: str = "UTC",
                          rows_per_file: int = 10_000) -> list[Path]:
    """Write one user's plays as account-data ``StreamingHistory_music_<n>.json`` files, endTime local to ``zone``."""
    from zoneinfo import ZoneInfo

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    local = ZoneInfo(zone)
    records = []
    for i in np.flatnonzero(data.user == user).tolist():
        t = int(data.track[i])
        ended = datetime.fromtimestamp(int(data.ts[i]) / 1_000_000, timezone.utc).astimezone(local)
        records.append({
            "endTime": ended.strftime("%Y-%m-%d %H:%M"),
            "artistName": data.artist_names[data.track_artist[t]],
            "trackName": data.track_names[t],
            "msPlayed": int(data.ms_played[i]),
        })
    paths = []
    for n, begin in enumerate(range(0, len(records), rows_per_file)):
        path = out_dir / f"StreamingHistory_music_{n}.json"
        path.write_text(json.dumps(records[begin:begin + rows_per_file], ensure_ascii=False, indent=2),
                        encoding="utf-8")
        paths.append(path)
    return paths


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros // 1_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _word(rng: np.random.Generator, syllables: int) -> str:
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    return "".join(rng.choice(list(consonants)) + rng.choice(list(vowels)) for _ in range(syllables)).capitalize()
