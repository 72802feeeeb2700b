"""DDL of the bandit log: one row per shelf or card the home page showed (see bandit.py)."""

BANDIT_STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS bandit_log (
        page_id VARCHAR NOT NULL,
        user_key VARCHAR NOT NULL,
        shown_at TIMESTAMP NOT NULL,
        policy VARCHAR NOT NULL,
        decision VARCHAR NOT NULL,
        shelf VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        propensity DOUBLE NOT NULL,
        segment VARCHAR NOT NULL,
        hour INTEGER NOT NULL,
        platform VARCHAR NOT NULL,
        features VARCHAR NOT NULL,
        track_uris VARCHAR[] NOT NULL,
        reward DOUBLE,
        ms_played BIGINT,
        rewarded_at TIMESTAMP,
        PRIMARY KEY (page_id, decision, action)
    )
    """,
]
