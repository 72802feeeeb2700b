"""A seeded generator of playlists in the Million Playlist Dataset format.

The data is generated, not real: it exists so that the demo and the tests
run anywhere without a download. Its structure follows what makes real
playlists predictable: each playlist draws from one or two genres, favours a
few artists, and picks tracks by a Zipf-like popularity, and its title uses
words of its genres.
"""

from __future__ import annotations

import gzip
import json
import string
from pathlib import Path

import numpy as np

GENRES = {
    "rock": ["rock", "guitar", "classic rock", "road trip", "anthems"],
    "pop": ["pop", "hits", "summer", "party", "top 40"],
    "hip hop": ["rap", "hip hop", "bangers", "trap", "gym"],
    "country": ["country", "truck", "southern", "boots", "bonfire"],
    "electronic": ["edm", "house", "dance", "techno", "festival"],
    "jazz": ["jazz", "smooth", "late night", "coffee", "lounge"],
    "indie": ["indie", "chill", "vibes", "mellow", "sunday"],
    "latin": ["latin", "reggaeton", "fiesta", "salsa", "baila"],
    "metal": ["metal", "heavy", "headbang", "workout", "loud"],
    "classical": ["classical", "piano", "study", "focus", "calm"],
    "r&b": ["r&b", "soul", "slow jams", "love", "smooth"],
    "folk": ["folk", "acoustic", "campfire", "chill", "rainy day"],
    "punk": ["punk", "pop punk", "throwback", "skate", "emo"],
    "blues": ["blues", "soul", "whiskey", "old school", "delta"],
    "reggae": ["reggae", "island", "beach", "summer", "roots"],
    "k-pop": ["kpop", "k-pop", "idol", "dance", "bias"],
}
NOISE_SHARE = 0.15  # share of a playlist's tracks drawn from the whole catalogue
SLICE_SIZE = 1000


def _word(rng: np.random.Generator, syllables: int) -> str:
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    return "".join(rng.choice(list(consonants)) + rng.choice(list(vowels)) for _ in range(syllables)).capitalize()


def _spotify_id(rng: np.random.Generator) -> str:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    return "".join(rng.choice(alphabet, 22))


def generate_mpd(out_dir: Path, n_playlists: int = 3000, artists_per_genre: int = 50,
                 tracks_per_artist: int = 12, seed: int = 0) -> list[Path]:
    """Write ``n_playlists`` generated playlists as MPD slice files and return their paths."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genres = list(GENRES)

    # Catalogue: genre -> artists -> albums -> tracks, each with a popularity weight.
    catalogue = []  # per genre: list of (track dict, weight, artist index)
    for genre in genres:
        tracks = []
        artist_weights = 1.0 / np.arange(1, artists_per_genre + 1) ** 0.8
        for a in range(artists_per_genre):
            artist = {"artist_name": f"{_word(rng, 2)} {_word(rng, 2)}",
                      "artist_uri": f"spotify:artist:{_spotify_id(rng)}"}
            for album_index in range(max(1, tracks_per_artist // 6)):
                album = {"album_name": _word(rng, 3), "album_uri": f"spotify:album:{_spotify_id(rng)}"}
                for t in range(6):
                    track = {
                        "artist_name": artist["artist_name"], "artist_uri": artist["artist_uri"],
                        "track_name": f"{_word(rng, 2)} {_word(rng, 1)}",
                        "track_uri": f"spotify:track:{_spotify_id(rng)}",
                        "album_name": album["album_name"], "album_uri": album["album_uri"],
                        "duration_ms": int(rng.normal(215_000, 40_000)),
                    }
                    weight = artist_weights[a] / (1 + album_index * 6 + t) ** 0.7
                    tracks.append((track, weight, a))
        catalogue.append(tracks)

    paths = []
    for slice_start in range(0, n_playlists, SLICE_SIZE):
        slice_end = min(slice_start + SLICE_SIZE, n_playlists)
        playlists = [_playlist(rng, pid, genres, catalogue) for pid in range(slice_start, slice_end)]
        document = {
            "info": {"generated_on": "tastemaker generator", "slice": f"{slice_start}-{slice_end - 1}",
                     "version": "generated"},
            "playlists": playlists,
        }
        path = out_dir / f"mpd.slice.{slice_start}-{slice_end - 1}.json.gz"
        # mtime=0 keeps the gzip header, and so the file's bytes and content hash,
        # the same on every run: ingesting a regenerated folder then changes nothing.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
            compressed.write(json.dumps(document).encode("utf-8"))
        paths.append(path)
    return paths


def _playlist(rng: np.random.Generator, pid: int, genres: list[str], catalogue: list) -> dict:
    chosen = rng.choice(len(genres), size=1 + int(rng.random() < 0.4), replace=False)
    length = int(np.clip(rng.lognormal(3.3, 0.7), 5, 250))
    pool = [item for g in chosen for item in catalogue[g]]
    weights = np.array([w for _, w, _ in pool])
    # A playlist favours a handful of artists: boost their tracks.
    artists = np.array([a + 1000 * i for i, g in enumerate(chosen) for _, _, a in catalogue[g]])
    favourites = rng.choice(np.unique(artists), size=min(3, len(np.unique(artists))), replace=False)
    weights = weights * np.where(np.isin(artists, favourites), 4.0, 1.0)
    length = min(length, len(pool))
    picks = rng.choice(len(pool), size=length, replace=False, p=weights / weights.sum())
    # Some tracks come from anywhere in the catalogue, as real playlists wander off-genre.
    noise = rng.random(length) < NOISE_SHARE
    if noise.any():
        everything = [item for tracks in catalogue for item in tracks]
        pool = pool + everything
        offset = len(pool) - len(everything)
        picks = np.where(noise, offset + rng.integers(0, len(everything), size=length), picks)
        picks = np.array(list(dict.fromkeys(picks.tolist())))
    words = [w for g in chosen for w in GENRES[genres[g]]]
    name = " ".join(rng.choice(words, size=1 + int(rng.random() < 0.4), replace=False))
    tracks = [dict(pool[i][0], pos=pos) for pos, i in enumerate(picks)]
    return {
        "name": name, "collaborative": "false", "pid": pid, "modified_at": int(1_400_000_000 + pid * 1000),
        "num_tracks": len(tracks), "num_albums": len({t["album_uri"] for t in tracks}),
        "num_followers": int(rng.integers(1, 50)), "num_edits": int(rng.integers(1, 30)),
        "duration_ms": sum(t["duration_ms"] for t in tracks),
        "num_artists": len({t["artist_uri"] for t in tracks}), "tracks": tracks,
    }
