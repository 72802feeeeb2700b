"""Hand-made listening records in the documented Spotify and Last.fm layouts, for the listening tests."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import track_uri

IP_ADDRESS = "203.0.113.77"
USER_AGENT = "Mozilla/5.0 (private-agent-string)"


def extended_play(key: int = 1, ts: str = "2020-04-18T13:41:44Z", **fields) -> dict:
    """Return one Extended Streaming History record of track ``key``, with every documented field."""
    record = {
        "ts": ts,
        "username": "alice",
        "platform": "Android OS 9 API 28 (samsung, SM-G960F)",
        "ms_played": 215_733,
        "conn_country": "DE",
        "ip_addr_decrypted": IP_ADDRESS,
        "user_agent_decrypted": USER_AGENT,
        "master_metadata_track_name": f"Song {key}",
        "master_metadata_album_artist_name": f"Artist {key % 3}",
        "master_metadata_album_album_name": f"Album {key % 3}",
        "spotify_track_uri": track_uri(key),
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1587217304,
        "incognito_mode": False,
    }
    record.update(fields)
    return record


def episode_play(ts: str = "2020-04-18T14:00:00Z") -> dict:
    return extended_play(0, ts, master_metadata_track_name=None, master_metadata_album_artist_name=None,
                         master_metadata_album_album_name=None, spotify_track_uri=None,
                         episode_name="Episode", episode_show_name="Show",
                         spotify_episode_uri="spotify:episode:" + "1" * 22)


def audiobook_play(ts: str = "2020-04-18T15:00:00Z") -> dict:
    return extended_play(0, ts, master_metadata_track_name=None, master_metadata_album_artist_name=None,
                         master_metadata_album_album_name=None, spotify_track_uri=None,
                         audiobook_title="Book", audiobook_uri="spotify:show:" + "2" * 22,
                         audiobook_chapter_uri="spotify:episode:" + "3" * 22, audiobook_chapter_title="One")


def account_play(artist: str, track: str, end_time: str = "2020-04-18 13:41", ms: int = 200_000) -> dict:
    return {"endTime": end_time, "artistName": artist, "trackName": track, "msPlayed": ms}


def write_records(path: Path, records: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def history_plays(count: int, start_key: int = 1, day: int = 1) -> list[dict]:
    """Return ``count`` plays of distinct tracks, one minute apart on 2021-03-<day>."""
    return [extended_play(start_key + i, f"2021-03-{day:02d}T{10 + i // 60:02d}:{i % 60:02d}:00Z")
            for i in range(count)]
