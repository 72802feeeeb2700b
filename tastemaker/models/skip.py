"""A LightGBM model that predicts whether a listener skips the next track of a session.

Data comes as SkipSessions, from the session logs of the Spotify Sequential
Skip Prediction Challenge (WSDM Cup 2019), whose label is ``skip_2``, or from
tastemaker's own play events, where a skip is what signals.confidence calls
one. The features of a predicted play are its position and the session
length, and the context: type, shuffle, premium, hour and the pause before
the play. Then come the skips observed earlier in the session, track
features learnt from the training sessions (smoothed skip rate and play
count), and the user's skip rate when users are known.

Two observation schemes: "half", the challenge's, shows the first
``floor(length / 2)`` plays of a session with their outcomes and predicts all
the others at once; "previous", the one radio needs, predicts each play from
every play before it. Context that the challenge withholds for the second
half (reasons and pauses) is only read from observed plays.

The score is the challenge's mean average accuracy: per session,
``AA = (1/T) * sum_i A(i) * L(i)`` over its T predictions in order, where
A(i) is the accuracy of the first i predictions and L(i) is 1 when the i-th
is right, averaged over sessions. This is how ``local_evaluation.ipynb`` of
the challenge's starter kit (crowdAI/skip-prediction-challenge-starter-kit)
scores a submission. Sessions of one play have nothing observed and are not
scored here; the challenge's sessions have 10 to 20 plays. The model is saved as LightGBM's text
format plus JSON and .npy files, never a pickle.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from ..errors import BundleError, InputError, ModelError
from ..signals.confidence import classify_plays
from ..signals.idmap import IdMap
from ..signals.sessions import DEFAULT_GAP_MINUTES, sessions_of_events
from .base import load_array

log = logging.getLogger(__name__)

CHALLENGE_COLUMNS = ("session_id", "session_position", "session_length", "track_id_clean", "skip_2",
                     "hist_user_behavior_is_shuffle", "hour_of_day", "premium", "context_type",
                     "hist_user_behavior_reason_start", "hist_user_behavior_reason_end",
                     "no_pause_before_play", "short_pause_before_play", "long_pause_before_play")
SCHEMES = ("half", "previous")
FEATURES = (
    "position", "length", "position_share", "steps_since_observed", "observed", "observed_skip_share",
    "last_observed_skip", "skips_in_last_3_observed", "last_observed_reason_end", "context_type", "shuffle",
    "premium", "hour", "pause_before", "track_skip_rate", "track_plays", "repeat_in_session",
    "repeat_was_skipped", "user_skip_rate",
)
CATEGORICAL = ("last_observed_reason_end", "context_type", "pause_before")
PAUSES = ("none", "short", "long")
PRIOR_PLAYS = 5.0  # pseudo-plays pulling a rarely heard track's skip rate towards the overall rate
# Training sessions are split into this many folds, so that no row's own outcome is in its track statistics.
FOLDS = 5
MODEL_FILE = "skip_model.txt"
META_FILE = "skip_model.json"
TRACKS_FILE = "skip_tracks.txt"


@dataclass
class SkipSessions:
    """Plays grouped in sessions, ordered by session and position.

    ``session`` contains dense ids from 0; text columns are object arrays with
    None for unknown values, and ``shuffle``, ``premium`` and ``hour`` are
    floats with NaN for unknown.
    """

    session: np.ndarray
    position: np.ndarray
    length: np.ndarray
    track: np.ndarray
    skipped: np.ndarray
    context_type: np.ndarray
    reason_start: np.ndarray
    reason_end: np.ndarray
    shuffle: np.ndarray
    premium: np.ndarray
    hour: np.ndarray
    pause_before: np.ndarray
    user: np.ndarray | None = None
    rejected: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)

    @property
    def n_sessions(self) -> int:
        return int(self.session.max()) + 1 if len(self.session) else 0

    def subset(self, sessions: np.ndarray) -> "SkipSessions":
        """Return the plays of the given session ids, renumbered densely in the order given."""
        renumber = np.full(self.n_sessions, -1, dtype=np.int64)
        renumber[np.asarray(sessions)] = np.arange(len(sessions))
        keep = renumber[self.session] >= 0
        order = np.lexsort((self.position[keep], renumber[self.session][keep]))
        rows = np.flatnonzero(keep)[order]
        values = {name: getattr(self, name)[rows] for name in (
            "position", "length", "track", "skipped", "context_type", "reason_start", "reason_end", "shuffle",
            "premium", "hour", "pause_before")}
        return SkipSessions(session=renumber[self.session[rows]], user=None if self.user is None else self.user[rows],
                            **values)


# Reading


def read_challenge_log(path: str | Path) -> SkipSessions:
    """Read a session log of the skip prediction challenge (CSV with a header); ``skip_2`` is the label.

    Rows with invalid values are left out and listed in ``rejected`` as (line,
    field, value, reason). A session that loses a row is left out whole,
    because its positions would no longer be complete.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: invalid UTF-8 at byte {exc.start}; the challenge logs are UTF-8 CSV") from exc
    if not text.strip():
        raise InputError(f"{path}: the file is empty; expected the challenge's CSV session log")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CHALLENGE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing columns {', '.join(missing)}; is this a skip prediction challenge "
                         "session log (log_*.csv)?")

    rows: list[tuple] = []
    rejected: list[tuple[int, str | None, str | None, str]] = []
    bad_sessions: set[str] = set()
    for line, record in enumerate(reader, start=2):
        try:
            rows.append(_challenge_row(record))
        except ValueError as exc:
            field_name, value = exc.args[1], record.get(exc.args[1])
            rejected.append((line, field_name, value, exc.args[0]))
            bad_sessions.add(record.get("session_id") or "")
    rows = [r for r in rows if r[0] not in bad_sessions]
    if not rows:
        raise InputError(f"{path}: no valid rows; {len(rejected)} rows were rejected")
    rows.sort(key=lambda r: (r[0], r[1]))
    columns = list(zip(*rows))
    session_ids, dense = np.unique(np.asarray(columns[0], dtype=object).astype(str), return_inverse=True)
    order = np.lexsort((np.asarray(columns[1]), dense))
    as_array = [np.asarray(c, dtype=object)[order] for c in columns]
    sessions = SkipSessions(
        session=dense[order].astype(np.int64), position=as_array[1].astype(np.int64),
        length=as_array[2].astype(np.int64), track=as_array[3], skipped=as_array[4].astype(bool),
        shuffle=as_array[5].astype(float), hour=as_array[6].astype(float), premium=as_array[7].astype(float),
        context_type=as_array[8], reason_start=as_array[9], reason_end=as_array[10], pause_before=as_array[11],
        rejected=rejected,
    )
    _check_positions(sessions, path)
    return sessions


def _challenge_row(record: dict) -> tuple:
    def flag(name: str) -> float:
        value = (record.get(name) or "").strip().lower()
        if value in ("true", "1"):
            return 1.0
        if value in ("false", "0"):
            return 0.0
        raise ValueError(f"invalid {name}: expected True or False", name)

    def integer(name: str, low: int, high: int) -> int:
        value = (record.get(name) or "").strip()
        if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
            raise ValueError(f"invalid {name}: expected an integer from {low} to {high}", name)
        return int(value)

    session = (record.get("session_id") or "").strip()
    if not session:
        raise ValueError("missing session_id", "session_id")
    length = integer("session_length", 1, 10_000)
    position = integer("session_position", 1, length)
    track = (record.get("track_id_clean") or "").strip()
    if not track:
        raise ValueError("missing track_id_clean", "track_id_clean")
    pauses = [flag(name) for name in ("no_pause_before_play", "short_pause_before_play", "long_pause_before_play")]
    pause = PAUSES[int(np.argmax(pauses))] if any(pauses) else None
    return (session, position, length, track, bool(flag("skip_2")), flag("hist_user_behavior_is_shuffle"),
            integer("hour_of_day", 0, 23), flag("premium"), (record.get("context_type") or "").strip() or None,
            (record.get("hist_user_behavior_reason_start") or "").strip() or None,
            (record.get("hist_user_behavior_reason_end") or "").strip() or None, pause)


def _check_positions(sessions: SkipSessions, path: Path) -> None:
    starts = np.flatnonzero(np.r_[True, np.diff(sessions.session) != 0])
    expected = np.arange(len(sessions.session)) - np.repeat(starts, np.diff(np.r_[starts, len(sessions.session)])) + 1
    if not np.array_equal(expected, sessions.position):
        bad = int(sessions.session[np.flatnonzero(expected != sessions.position)[0]])
        raise InputError(f"{path}: session {bad} has missing or repeated session_position values; "
                         "each session must list positions 1, 2, 3, ... once")


def sessions_from_events(events: pa.Table, gap_minutes: float = DEFAULT_GAP_MINUTES,
                         stream_threshold_ms: int = 30_000) -> SkipSessions:
    """Turn play events (ordered by user and time) into skip sessions; a skip is as signals.confidence defines it."""
    sessions = sessions_of_events(events, gap_minutes)
    ms = events.column("ms_played")
    ms_known = ~np.asarray(ms.is_null(), dtype=bool)
    ms_played = np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    skipped = np.asarray(events.column("skipped").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    reason_end = np.asarray(events.column("reason_end").to_pylist(), dtype=object)
    _, skip = classify_plays(ms_played, ms_known, skipped, reason_end, stream_threshold_ms)
    ts = np.asarray(events.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    start = ts - ms_played * 1000
    pause_us = np.r_[0, start[1:] - ts[:-1]]
    pause = np.where(pause_us <= 5_000_000, "none", np.where(pause_us <= 60_000_000, "short", "long")).astype(object)
    pause[sessions.position == 1] = None
    shuffle = (events.column("shuffle").to_pylist() if "shuffle" in events.column_names
               else [None] * events.num_rows)
    reason_start = (events.column("reason_start").to_pylist() if "reason_start" in events.column_names
                    else [None] * events.num_rows)
    return SkipSessions(
        session=sessions.ids, position=sessions.position, length=sessions.length,
        track=np.asarray(events.column("track_uri").to_pylist(), dtype=object), skipped=skip,
        context_type=np.full(events.num_rows, None, dtype=object),
        reason_start=np.asarray(reason_start, dtype=object), reason_end=reason_end,
        shuffle=np.array([np.nan if s is None else float(s) for s in shuffle]),
        premium=np.full(events.num_rows, np.nan), hour=((ts // 3_600_000_000) % 24).astype(float),
        pause_before=pause, user=np.asarray(events.column("user_id").to_pylist(), dtype=object),
    )


# Features


@dataclass
class TrackStats:
    """Skip counts per track and user, learnt from training sessions."""

    tracks: IdMap
    plays: np.ndarray
    skips: np.ndarray
    global_rate: float
    user_rates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def learn(cls, sessions: SkipSessions) -> "TrackStats":
        ids, inverse = np.unique(sessions.track.astype(str), return_inverse=True)
        plays = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
        skips = np.bincount(inverse, weights=sessions.skipped.astype(float), minlength=len(ids))
        rate = float(sessions.skipped.mean()) if len(sessions.skipped) else 0.5
        users: dict[str, float] = {}
        if sessions.user is not None:
            names, user_index = np.unique(sessions.user.astype(str), return_inverse=True)
            user_plays = np.bincount(user_index)
            user_skips = np.bincount(user_index, weights=sessions.skipped.astype(float))
            users = {name: float((s + PRIOR_PLAYS * rate) / (p + PRIOR_PLAYS))
                     for name, s, p in zip(names.tolist(), user_skips, user_plays)}
        return cls(IdMap(ids.tolist()), plays, skips, rate, users)


def predicted_rows(sessions: SkipSessions, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows to predict and, per row, how many plays of its session are observed before it."""
    _check_scheme(scheme)
    if scheme == "half":
        observed = sessions.length // 2
    else:
        observed = sessions.position - 1
    rows = np.flatnonzero((sessions.position > observed) & (observed >= 1))
    return rows, observed[rows]


def skip_features(sessions: SkipSessions, stats: TrackStats, scheme: str,
                  vocabulary: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Return the feature matrix (in FEATURES order) and the rows it describes.

    ``stats`` must come from other sessions than ``sessions``: a track's skip
    rate that includes the row's own outcome gives the label away.
    """
    rows, observed = predicted_rows(sessions, scheme)
    n = len(rows)
    X = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    column = {name: i for i, name in enumerate(FEATURES)}
    session_start = rows - (sessions.position[rows] - 1)
    skipped = sessions.skipped.astype(np.float64)
    cumulative = np.r_[0.0, np.cumsum(skipped)]

    X[:, column["position"]] = sessions.position[rows]
    X[:, column["length"]] = sessions.length[rows]
    X[:, column["position_share"]] = sessions.position[rows] / sessions.length[rows]
    X[:, column["steps_since_observed"]] = sessions.position[rows] - observed
    X[:, column["observed"]] = observed
    last = session_start + observed - 1
    X[:, column["observed_skip_share"]] = (cumulative[last + 1] - cumulative[session_start]) / observed
    X[:, column["last_observed_skip"]] = skipped[last]
    first3 = np.maximum(session_start, last - 2)
    X[:, column["skips_in_last_3_observed"]] = cumulative[last + 1] - cumulative[first3]
    X[:, column["last_observed_reason_end"]] = _codes(sessions.reason_end[last], vocabulary["reason_end"])
    X[:, column["context_type"]] = _codes(sessions.context_type[rows], vocabulary["context_type"])
    X[:, column["shuffle"]] = sessions.shuffle[last]
    X[:, column["premium"]] = sessions.premium[rows]
    X[:, column["hour"]] = sessions.hour[session_start]
    own_pause = sessions.position[rows] == observed + 1
    pauses = _codes(sessions.pause_before[rows], vocabulary["pause_before"])
    X[:, column["pause_before"]] = np.where(own_pause, pauses, np.nan)

    track_index = np.fromiter((stats.tracks.get(t) for t in sessions.track[rows].astype(str)), np.int64, count=n)
    known = track_index >= 0
    plays = np.where(known, stats.plays[np.maximum(track_index, 0)], 0.0)
    skips = np.where(known, stats.skips[np.maximum(track_index, 0)], 0.0)
    X[:, column["track_skip_rate"]] = (skips + PRIOR_PLAYS * stats.global_rate) / (plays + PRIOR_PLAYS)
    X[:, column["track_plays"]] = np.log1p(plays)

    # The same track earlier in the observed part of the session, and whether it was skipped then.
    for i, row in enumerate(rows):
        start, end = session_start[i], last[i] + 1
        earlier = np.flatnonzero(sessions.track[start:end] == sessions.track[row])
        if len(earlier):
            X[i, column["repeat_in_session"]] = 1.0
            X[i, column["repeat_was_skipped"]] = skipped[start + earlier[-1]]
        else:
            X[i, column["repeat_in_session"]] = 0.0
    if sessions.user is not None and stats.user_rates:
        X[:, column["user_skip_rate"]] = [stats.user_rates.get(str(u), stats.global_rate)
                                          for u in sessions.user[rows]]
    return X, rows


def _codes(values: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """Map categories to indices of ``vocabulary``; unknown and missing values become NaN."""
    index = {value: i for i, value in enumerate(vocabulary)}
    return np.array([index.get(v, np.nan) if v is not None else np.nan for v in values], dtype=np.float32)


def learn_vocabulary(sessions: SkipSessions) -> dict[str, list[str]]:
    def distinct(values: np.ndarray) -> list[str]:
        return sorted({str(v) for v in values if v is not None})
    return {"reason_end": distinct(sessions.reason_end), "context_type": distinct(sessions.context_type),
            "pause_before": list(PAUSES)}


# Metrics and baselines


def mean_average_accuracy(sessions: SkipSessions, rows: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """Return the challenge's mean average accuracy and the accuracy of each session's first prediction."""
    correct = (np.asarray(predictions, dtype=bool) == sessions.skipped[rows]).astype(np.float64)
    session_of = sessions.session[rows]
    boundaries = np.flatnonzero(np.r_[True, session_of[1:] != session_of[:-1], True])
    scores, first = [], []
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        hits = correct[start:end]
        accuracy_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        scores.append(float((accuracy_at * hits).mean()))
        first.append(hits[0])
    if not scores:
        raise InputError("no session has a play to predict: sessions need at least 2 plays")
    return float(np.mean(scores)), float(np.mean(first))


def baseline_predictions(sessions: SkipSessions, scheme: str, baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows and predictions of "not-skipped" (never a skip) or "skip-previous" (the last observed outcome)."""
    rows, observed = predicted_rows(sessions, scheme)
    if baseline == "not-skipped":
        return rows, np.zeros(len(rows), dtype=bool)
    if baseline == "skip-previous":
        last = rows - (sessions.position[rows] - 1) + observed - 1
        return rows, sessions.skipped[last]
    raise InputError(f"unknown baseline {baseline!r}; choose not-skipped or skip-previous")


# The model


class SkipModel:
    """LightGBM binary classifier over skip_features; predicts a skip when the probability is at least 0.5."""

    def __init__(self, scheme: str = "half", num_leaves: int = 31, learning_rate: float = 0.05,
                 num_boost_round: int = 300, min_data_in_leaf: int = 20, seed: int = 0, num_threads: int = 1):
        _check_scheme(scheme)
        self.params = {"scheme": scheme, "num_leaves": num_leaves, "learning_rate": learning_rate,
                       "num_boost_round": num_boost_round, "min_data_in_leaf": min_data_in_leaf, "seed": seed,
                       "num_threads": num_threads}
        self.booster_: lgb.Booster | None = None
        self.stats_: TrackStats | None = None
        self.vocabulary_: dict[str, list[str]] | None = None

    def fit(self, sessions: SkipSessions) -> "SkipModel":
        self.stats_ = TrackStats.learn(sessions)
        self.vocabulary_ = learn_vocabulary(sessions)
        X, labels = self._out_of_fold_features(sessions)
        if len(labels) == 0:
            raise InputError("no training play to learn from: sessions need at least 2 plays")
        p = self.params
        dataset = lgb.Dataset(X, label=labels.astype(np.float32), feature_name=list(FEATURES),
                              categorical_feature=list(CATEGORICAL), free_raw_data=True)
        booster_params = {
            "objective": "binary", "num_leaves": p["num_leaves"], "learning_rate": p["learning_rate"],
            "min_data_in_leaf": p["min_data_in_leaf"], "seed": p["seed"], "deterministic": True,
            "num_threads": p["num_threads"], "verbosity": -1, "force_col_wise": True,
        }
        self.booster_ = lgb.train(booster_params, dataset, num_boost_round=p["num_boost_round"])
        log.info("skip model trained on %d plays of %d sessions", len(labels), sessions.n_sessions)
        return self

    def _out_of_fold_features(self, sessions: SkipSessions) -> tuple[np.ndarray, np.ndarray]:
        """Build training features fold by fold, each fold's track and user statistics learnt from the others."""
        folds = min(FOLDS, sessions.n_sessions)
        fold_of = np.random.default_rng(self.params["seed"]).permutation(sessions.n_sessions) % folds
        blocks, labels = [], []
        for fold in range(folds):
            inside = np.flatnonzero(fold_of == fold)
            outside = np.flatnonzero(fold_of != fold)
            part = sessions.subset(inside)
            stats = TrackStats.learn(sessions.subset(outside)) if len(outside) else self.stats_
            X, rows = skip_features(part, stats, self.params["scheme"], self.vocabulary_)
            blocks.append(X)
            labels.append(part.skipped[rows])
        return np.concatenate(blocks), np.concatenate(labels)

    def predict_proba(self, sessions: SkipSessions) -> tuple[np.ndarray, np.ndarray]:
        """Return the predicted rows and their skip probabilities."""
        if self.booster_ is None:
            raise ModelError("the skip model is not fitted: call fit() or load() first")
        X, rows = skip_features(sessions, self.stats_, self.params["scheme"], self.vocabulary_)
        if len(rows) == 0:
            return rows, np.zeros(0)
        return rows, self.booster_.predict(X)

    def predict(self, sessions: SkipSessions) -> tuple[np.ndarray, np.ndarray]:
        rows, probability = self.predict_proba(sessions)
        return rows, probability >= 0.5

    def save(self, folder: Path) -> None:
        """Write the booster as LightGBM text, parameters and vocabulary as JSON, track statistics as text and .npy."""
        if self.booster_ is None:
            raise ModelError("the skip model is not fitted: nothing to save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / MODEL_FILE))
        meta = {"model": "skip", "features": list(FEATURES), "params": self.params, "vocabulary": self.vocabulary_,
                "global_rate": self.stats_.global_rate, "user_rates": self.stats_.user_rates}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))
        self.stats_.tracks.save(folder / TRACKS_FILE)
        np.save(folder / "skip_track_plays.npy", self.stats_.plays, allow_pickle=False)
        np.save(folder / "skip_track_skips.npy", self.stats_.skips, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "SkipModel":
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {folder / META_FILE}: {exc}; train one with `tastemaker train-skip`") from exc
        if meta.get("features") != list(FEATURES):
            raise BundleError(f"{folder / META_FILE} lists other features than this version of tastemaker uses; "
                              "train the skip model again with `tastemaker train-skip`")
        model = cls(**meta["params"])
        try:
            model.booster_ = lgb.Booster(model_file=str(folder / MODEL_FILE))
        except lgb.basic.LightGBMError as exc:
            raise BundleError(f"cannot load {folder / MODEL_FILE}: {exc}") from exc
        tracks = IdMap.load(folder / TRACKS_FILE)
        plays = load_array(folder, "skip_track_plays", (len(tracks),))
        skips = load_array(folder, "skip_track_skips", (len(tracks),))
        model.stats_ = TrackStats(tracks, plays, skips, float(meta["global_rate"]), dict(meta.get("user_rates", {})))
        model.vocabulary_ = meta["vocabulary"]
        return model


def evaluate_skip_model(sessions: SkipSessions, scheme: str = "half", test_share: float = 0.25, seed: int = 0,
                        **model_params) -> tuple[dict, SkipModel]:
    """Train on a seeded share of the sessions and score the rest against both baselines."""
    if not 0 < test_share < 1:
        raise InputError(f"parameter test_share must be between 0 and 1, got {test_share!r}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(sessions.n_sessions)
    n_test = max(1, int(round(test_share * sessions.n_sessions)))
    if n_test >= sessions.n_sessions:
        raise InputError(f"{sessions.n_sessions} sessions are too few to hold out a test share")
    test, train = sessions.subset(np.sort(order[:n_test])), sessions.subset(np.sort(order[n_test:]))
    model = SkipModel(scheme=scheme, seed=seed, **model_params).fit(train)
    return score_skip_predictions(model, test, scheme) | {"train_sessions": train.n_sessions}, model


def score_skip_predictions(model: SkipModel, sessions: SkipSessions, scheme: str) -> dict:
    """Return mean average accuracy and first-prediction accuracy of the model and both baselines."""
    rows, predictions = model.predict(sessions)
    result = {"scheme": scheme, "test_sessions": sessions.n_sessions, "predictions": int(len(rows)),
              "skip_share": float(sessions.skipped[rows].mean()) if len(rows) else 0.0}
    result["model"] = mean_average_accuracy(sessions, rows, predictions)
    for baseline in ("not-skipped", "skip-previous"):
        baseline_rows, baseline_predictions_ = baseline_predictions(sessions, scheme, baseline)
        result[baseline] = mean_average_accuracy(sessions, baseline_rows, baseline_predictions_)
    return result


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise InputError(f"parameter scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
