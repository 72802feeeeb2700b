"""DDL of the tastemaker store (DuckDB).

Every statement is idempotent, so opening a store runs all of them. Bump
SCHEMA_VERSION and add a migration when a column changes meaning.
"""

SCHEMA_VERSION = 1

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS artists (
        artist_uri VARCHAR PRIMARY KEY,
        name VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS albums (
        album_uri VARCHAR PRIMARY KEY,
        name VARCHAR,
        artist_uri VARCHAR
    )
    """,
    # Optional columns are NULL when a source does not carry them, as in the
    # reduced MPD schema, whose tracks have no album, artist URI or duration.
    """
    CREATE TABLE IF NOT EXISTS tracks (
        track_uri VARCHAR PRIMARY KEY,
        name VARCHAR,
        artist_name VARCHAR,
        artist_uri VARCHAR,
        album_uri VARCHAR,
        album_name VARCHAR,
        duration_ms BIGINT,
        first_seen TIMESTAMP NOT NULL
    )
    """,
    # source is 'mpd' for training playlists and 'challenge' for playlists to
    # continue, whose tracks are only the seeds.
    """
    CREATE TABLE IF NOT EXISTS playlists (
        pid BIGINT PRIMARY KEY,
        source VARCHAR NOT NULL,
        name VARCHAR,
        description VARCHAR,
        collaborative BOOLEAN,
        modified_at TIMESTAMP,
        num_tracks INTEGER,
        num_followers INTEGER,
        num_edits INTEGER,
        num_artists INTEGER,
        num_albums INTEGER,
        duration_ms BIGINT,
        num_samples INTEGER,
        num_holdouts INTEGER,
        file VARCHAR NOT NULL
    )
    """,
    # pos is the track's position in the source list. A duplicate of a track
    # already in the playlist is not stored, so positions can have gaps.
    """
    CREATE TABLE IF NOT EXISTS playlist_tracks (
        pid BIGINT NOT NULL,
        pos INTEGER NOT NULL,
        track_uri VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ingest_log (
        content_sha256 VARCHAR PRIMARY KEY,
        file VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        playlists_read INTEGER NOT NULL,
        playlists_loaded INTEGER NOT NULL,
        playlists_rejected INTEGER NOT NULL,
        tracks_read INTEGER NOT NULL,
        tracks_loaded INTEGER NOT NULL,
        tracks_merged INTEGER NOT NULL,
        tracks_rejected INTEGER NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        seconds DOUBLE NOT NULL
    )
    """,
    # record_index is the playlist's index in the file (for a CSV, the data
    # row's index) and item_index the track's index in that playlist; both are
    # NULL for a whole-file reject.
    """
    CREATE TABLE IF NOT EXISTS rejects (
        content_sha256 VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        record_index INTEGER,
        item_index INTEGER,
        field VARCHAR,
        value VARCHAR,
        reason VARCHAR NOT NULL
    )
    """,
    # Spotify Web API audio features, one row per track, in the API's units.
    # Loudness is in dB and tempo in beats per minute. Key is a pitch class,
    # -1 when none was detected, and mode is 1 for major and 0 for minor. A
    # track can have features without appearing in any playlist.
    """
    CREATE TABLE IF NOT EXISTS audio_features (
        track_uri VARCHAR PRIMARY KEY,
        danceability DOUBLE NOT NULL,
        energy DOUBLE NOT NULL,
        key INTEGER NOT NULL,
        loudness DOUBLE NOT NULL,
        mode INTEGER NOT NULL,
        speechiness DOUBLE NOT NULL,
        acousticness DOUBLE NOT NULL,
        instrumentalness DOUBLE NOT NULL,
        liveness DOUBLE NOT NULL,
        valence DOUBLE NOT NULL,
        tempo DOUBLE NOT NULL,
        duration_ms BIGINT NOT NULL,
        time_signature INTEGER NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    )
    """,
]

from .listening_schema import LISTENING_STATEMENTS  # noqa: E402

STATEMENTS += LISTENING_STATEMENTS

from .simulation_schema import SIMULATION_STATEMENTS  # noqa: E402

STATEMENTS += SIMULATION_STATEMENTS

from .bandit_schema import BANDIT_STATEMENTS  # noqa: E402

STATEMENTS += BANDIT_STATEMENTS
