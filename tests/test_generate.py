"""The MPD generator writes the same bytes on every run, so re-ingesting a regenerated folder changes nothing."""

from tastemaker.generate import generate_mpd
from tastemaker.ingest import ingest_mpd
from tastemaker.store import Store


def test_regenerated_files_are_identical(tmp_path):
    first = generate_mpd(tmp_path / "a", n_playlists=120, seed=3)
    second = generate_mpd(tmp_path / "b", n_playlists=120, seed=3)
    assert [p.name for p in first] == [p.name for p in second]
    for left, right in zip(first, second):
        assert left.read_bytes() == right.read_bytes()


def test_reingest_after_regeneration_loads_nothing(tmp_path):
    folder = tmp_path / "mpd"
    generate_mpd(folder, n_playlists=120, seed=3)
    with Store.open(tmp_path / "data") as store:
        ingest_mpd(store, [folder])
        generate_mpd(folder, n_playlists=120, seed=3)
        report = ingest_mpd(store, [folder])
        counts = store.counts()
    assert report.files_by_status == {"skipped": 1}
    assert counts["playlists"] == 120
