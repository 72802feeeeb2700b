"""DDL of the listening tables: users, play events, set-aside plays, HetRec artist data.

Times are naive TIMESTAMPs in UTC. No table stores an account name, an IP
address or a user agent. A user is a dense id plus an HMAC-SHA256 of the name
under a salt kept in the meta table (key ``user_name_salt``). So the same name
finds the same user in one store, but the name cannot be read back from it.
"""

LISTENING_STATEMENTS = [
    # source is the namespace of the name: spotify, lastfm, listenbrainz or
    # hetrec. The same name under two namespaces is two users.
    """
    CREATE TABLE IF NOT EXISTS users (
        user_id BIGINT PRIMARY KEY,
        source VARCHAR NOT NULL,
        name_hash VARCHAR NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        UNIQUE (source, name_hash)
    )
    """,
    # One row per play of a music track. ts is when the play ended, in UTC.
    # ms_played, skipped and the reasons are NULL where the source lacks them
    # (Last.fm and ListenBrainz record only finished scrobbles). platform is
    # a coarse family (android, ios, windows, ...), never the device string.
    # A play is stored once per (user_id, ts, track_uri, ms_played).
    """
    CREATE TABLE IF NOT EXISTS play_events (
        user_id BIGINT NOT NULL,
        ts TIMESTAMP NOT NULL,
        track_uri VARCHAR NOT NULL,
        ms_played BIGINT,
        skipped BOOLEAN,
        reason_start VARCHAR,
        reason_end VARCHAR,
        shuffle BOOLEAN,
        offline BOOLEAN,
        offline_ts TIMESTAMP,
        incognito BOOLEAN,
        platform VARCHAR,
        conn_country VARCHAR,
        source VARCHAR NOT NULL,
        file VARCHAR NOT NULL
    )
    """,
    # Podcast episodes and audiobook chapters from the same exports, kept out
    # of music signals. kind is 'episode' or 'audiobook'.
    """
    CREATE TABLE IF NOT EXISTS set_aside_plays (
        user_id BIGINT NOT NULL,
        ts TIMESTAMP NOT NULL,
        kind VARCHAR NOT NULL,
        uri VARCHAR,
        ms_played BIGINT,
        source VARCHAR NOT NULL,
        file VARCHAR NOT NULL
    )
    """,
    # One row per listening source file, keyed by the hash of its bytes, so
    # the same content ingested again is recognised and changes nothing.
    # rows_read = rows_loaded + rows_merged + rows_rejected + rows_set_aside.
    """
    CREATE TABLE IF NOT EXISTS listening_ingest_log (
        content_sha256 VARCHAR PRIMARY KEY,
        file VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_merged BIGINT NOT NULL,
        rows_rejected BIGINT NOT NULL,
        rows_set_aside BIGINT NOT NULL,
        rows_name_matched BIGINT NOT NULL,
        rows_new_track BIGINT NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        seconds DOUBLE NOT NULL
    )
    """,
    # A source's own artist ids (HetRec's integer ids) and the catalogue
    # artist each stands for.
    """
    CREATE TABLE IF NOT EXISTS source_artists (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        artist_uri VARCHAR NOT NULL,
        PRIMARY KEY (source, source_id)
    )
    """,
    # Play counts per user and artist, for sources without single plays.
    """
    CREATE TABLE IF NOT EXISTS user_artist_plays (
        user_id BIGINT NOT NULL,
        artist_uri VARCHAR NOT NULL,
        plays BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        PRIMARY KEY (user_id, artist_uri, source)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS artist_tags (
        user_id BIGINT NOT NULL,
        artist_uri VARCHAR NOT NULL,
        tag VARCHAR NOT NULL,
        tagged_on DATE,
        source VARCHAR NOT NULL,
        file VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS user_friends (
        user_id BIGINT NOT NULL,
        friend_id BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        PRIMARY KEY (user_id, friend_id)
    )
    """,
]
