"""DDL of the simulation tables: runs of the feedback loop, their play events and per-round metrics.

Users and tracks of a simulation are dense indices of its generated world,
not catalogue ids, so these tables never join the real-data tables.
"""

SIMULATION_STATEMENTS = [
    # One row per run of one policy on one world; params is JSON of the
    # world, choice and loop settings, enough to rerun it.
    """
    CREATE TABLE IF NOT EXISTS simulation_runs (
        run_id VARCHAR PRIMARY KEY,
        policy VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        reward VARCHAR NOT NULL,
        params VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )
    """,
    # One row per play. Round 0 contains the organic history drawn before
    # the first recommendation, whose position is -1. Otherwise position is
    # the 0-based slate rank.
    """
    CREATE TABLE IF NOT EXISTS simulation_events (
        run_id VARCHAR NOT NULL,
        round INTEGER NOT NULL,
        user_index INTEGER NOT NULL,
        track_index INTEGER NOT NULL,
        position INTEGER NOT NULL,
        ms_played BIGINT NOT NULL,
        streamed BOOLEAN NOT NULL,
        completed BOOLEAN NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS simulation_rounds (
        run_id VARCHAR NOT NULL,
        round INTEGER NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        PRIMARY KEY (run_id, round, metric)
    )
    """,
]
