"""The audit end to end on generated playlists: data, per-group metrics, frontier, reports and the CLI."""

from __future__ import annotations

import csv
import numpy as np
import pytest

from tastemaker.audit.data import playlist_audit_data
from tastemaker.audit.report import frontier_sentence, write_audit_report
from tastemaker.audit.run import (
    GROUPS,
    METRICS,
    NO_RERANK,
    AuditResult,
    AuditSettings,
    run_audit,
    user_groups,
)
from tastemaker.errors import InputError
from tastemaker.rerank import RERANKERS
from tastemaker.store import Store

from conftest import invoke_tastemaker

MODELS = [("popularity", {"model": "popularity"}), ("als", {"model": "als", "factors": 8, "iterations": 5})]
SETTINGS = AuditSettings(N=20, candidates=60, reference_factors=8)


@pytest.fixture(scope="module")
def audit_data(trained_dir):
    with Store.open(trained_dir, read_only=True) as store:
        return playlist_audit_data(store, test_playlists=45, seed=0)


@pytest.fixture(scope="module")
def audit_result(audit_data) -> AuditResult:
    return run_audit(audit_data, MODELS, SETTINGS, reranks=[("mmr", 0.3)], frontier_models=["als"],
                     frontier_strengths=(0.2, 1.0))


def test_audit_data_shapes(audit_data):
    k = audit_data.histories.shape[0]
    assert 40 <= k <= 45
    assert audit_data.histories.shape[1] == audit_data.n_items
    assert len(audit_data.hidden) == len(audit_data.titles) == len(audit_data.buckets) == k
    assert audit_data.track_artist.shape == (audit_data.n_items,)
    assert audit_data.track_artist.max() == audit_data.n_artists - 1
    assert audit_data.item_categories.shape == (audit_data.n_items, audit_data.n_artists)
    assert audit_data.category_kind == "artist"
    assert "title" not in audit_data.buckets


def test_audit_data_every_row_has_history(audit_data):
    assert (np.diff(audit_data.histories.indptr) > 0).all()


def test_audit_data_rejects_unknown_categories(trained_dir):
    with Store.open(trained_dir, read_only=True) as store:
        with pytest.raises(InputError, match="categories must be one of"):
            playlist_audit_data(store, test_playlists=20, categories="genre")


def test_audit_data_tags_need_tags(trained_dir):
    with Store.open(trained_dir, read_only=True) as store:
        with pytest.raises(InputError, match="needs artist tags"):
            playlist_audit_data(store, test_playlists=20, categories="tag")


def test_user_groups_median_split():
    import scipy.sparse as sp

    popularity = np.array([1.0, 2.0, 10.0, 20.0])
    histories = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0],
                                        [0, 0, 1, 0]], dtype=np.float32))
    labels = user_groups(histories, popularity).tolist()
    # Means 1, 15, 2, none, 10: the median of the four known is 6.
    assert labels == ["niche", "mainstream", "niche", "no history", "mainstream"]


def test_audit_rows_cover_models_groups_variants(audit_result):
    for model, _ in MODELS:
        for group in GROUPS:
            rows = audit_result.select(model, NO_RERANK, group)
            assert len(rows) == 1, (model, group)
        assert len([r for r in audit_result.select(model, "mmr", "all") if r["strength"] == 0.3]) == 1
    assert len(audit_result.select("popularity", "fairness")) == 0
    assert len(audit_result.select("als", "fairness", "all")) == 2


def test_audit_metrics_in_range(audit_result):
    for row in audit_result.rows:
        for metric in ("coverage", "track_gini", "artist_gini", "top1_artist_share", "long_tail_share", "ndcg",
                       "recall", "r_precision", "artist_diversity"):
            assert 0.0 <= row[metric] <= 1.0, (row["model"], row["group"], metric)
        assert row["popularity_lift"] > 0
        assert row["calibration_kl"] >= 0


def test_popularity_model_lists_barely_vary(audit_result, audit_data):
    popularity = audit_result.select("popularity", NO_RERANK, "all")[0]
    als = audit_result.select("als", NO_RERANK, "all")[0]
    seeds = int(np.diff(audit_data.histories.indptr).max())
    assert popularity["coverage"] <= (SETTINGS.N + seeds) / audit_data.n_items
    assert popularity["coverage"] < als["coverage"]
    assert popularity["popularity_lift"] > als["popularity_lift"]


def test_group_users_add_up(audit_result):
    total = audit_result.select("als", NO_RERANK, "all")[0]["users"]
    parts = sum(audit_result.select("als", NO_RERANK, g)[0]["users"] for g in ("mainstream", "niche"))
    assert parts == total


def test_mainstream_lists_are_less_novel(audit_result):
    mainstream = audit_result.select("als", NO_RERANK, "mainstream")[0]
    niche = audit_result.select("als", NO_RERANK, "niche")[0]
    assert mainstream["novelty"] < niche["novelty"]


def test_generated_durations_known(audit_result):
    row = audit_result.select("als", NO_RERANK, "all")[0]
    assert row["duration_known"] == 1.0
    assert row["duration_ratio"] == pytest.approx(row["recommended_duration_s"] / row["catalogue_duration_s"])
    assert 60 < row["recommended_duration_s"] < 600


def test_candidate_artists_counted(audit_result, audit_data):
    assert 0 < audit_result.candidate_artists["popularity"] < audit_result.candidate_artists["als"]
    assert audit_result.candidate_artists["als"] <= audit_data.n_artists
    assert audit_result.n_artists == audit_data.n_artists


def test_frontier_points_and_verdict(audit_result):
    points = audit_result.frontier("als")
    # The plain list, each re-ranker at the two frontier strengths, and mmr:0.3 asked for on its own.
    assert len(points) == 1 + len(RERANKERS) * 2 + 1
    assert points[0]["reranker"] == NO_RERANK
    assert points[0]["ndcg_change"] == 0.0
    verdict = audit_result.frontier_verdict("als")
    assert set(verdict["best_within_budget"]) <= set(RERANKERS)
    assert isinstance(verdict["meets_target"], bool)
    sentence = frontier_sentence(audit_result, "als")
    assert sentence.startswith(("Met:", "Not met:", "No re-ranker"))


def test_fairness_strength_one_lowers_artist_gini(audit_result):
    plain = audit_result.select("als", NO_RERANK, "all")[0]["artist_gini"]
    fair = [r for r in audit_result.select("als", "fairness", "all") if r["strength"] == 1.0][0]["artist_gini"]
    assert fair < plain


def test_audit_is_reproducible(audit_data, audit_result):
    again = run_audit(audit_data, MODELS, SETTINGS, reranks=[("mmr", 0.3)], frontier_models=["als"],
                      frontier_strengths=(0.2, 1.0))
    assert again.rows == audit_result.rows


def test_report_files(audit_result, tmp_path):
    files = write_audit_report(audit_result, tmp_path)
    assert {p.name for p in files.values()} == {"audit.csv", "frontier.csv", "frontier-als.png", "audit.md",
                                               "audit.html"}
    with (tmp_path / "audit.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(audit_result.rows)
    assert set(METRICS) <= set(rows[0])
    markdown = (tmp_path / "audit.md").read_text()
    users = audit_result.select("als", NO_RERANK, "all")[0]["users"]
    assert f"## Audit: all ({users} rows)" in markdown
    assert "als + mmr:0.3" in markdown
    assert "MPD has no genres" in markdown
    assert "![" in markdown
    assert "frontier-als.png" in markdown
    assert (tmp_path / "frontier-als.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in (tmp_path / "audit.html").read_text()


def test_report_without_plots(audit_result, tmp_path):
    files = write_audit_report(audit_result, tmp_path, plots=False)
    assert not any(p.suffix == ".png" for p in files.values())
    assert ".png" not in (tmp_path / "audit.md").read_text()


# CLI


def test_cli_audit_writes_reports(trained_dir, tmp_path):
    out = tmp_path / "reports"
    result = invoke_tastemaker("--data-dir", trained_dir, "audit", "--test-playlists", "30", "-m", "popularity",
                               "-m", "als", "-p", "als.factors=8", "-p", "als.iterations=3", "-n", "10",
                               "--candidates", "30", "--strengths", "0.5", "--rerank", "popularity:0.4",
                               "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert "frontier of als:" in result.output
    assert (out / "audit.md").exists()
    assert (out / "frontier.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--rerank", "mmr"], "expected NAME:STRENGTH"),
    (["--rerank", "loud:0.3"], "unknown name 'loud'"),
    (["--frontier", "ease"], "invalid --frontier 'ease'"),
    (["--strengths", "0.2,abc"], "invalid --strengths"),
    (["--strengths", "0.2,3"], "strength must be a number from 0 to 1"),
    (["--weighting", "linear"], "invalid --weighting 'linear'"),
])
def test_cli_audit_rejects_bad_options(trained_dir, args, message):
    result = invoke_tastemaker("--data-dir", trained_dir, "audit", "-m", "popularity", "-m", "als", *args)
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)


def test_cli_audit_without_store(tmp_path):
    result = invoke_tastemaker("--data-dir", tmp_path / "none", "audit")
    assert result.exception is not None
    assert "no store found" in str(result.exception)
