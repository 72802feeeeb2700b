"""Content features of audio generated here: tempo, chroma, loudness, onsets, codecs and bad input."""

import math

import numpy as np
import pytest
import soundfile

from tastemaker.content.features import (CONTENT_FEATURES, MIN_SECONDS, AudioContentError, extract_file,
                                         extract_signal)

RATE = 22050


def click_track(bpm: float, seconds: float = 12.0, rate: int = RATE) -> np.ndarray:
    """Return 10 ms bursts of a 1 kHz tone, one per beat at exactly ``bpm``."""
    samples = np.zeros(int(seconds * rate), dtype=np.float32)
    length = int(0.01 * rate)
    burst = (np.sin(2 * np.pi * 1000 * np.arange(length) / rate) * np.hanning(length)).astype(np.float32)
    beat = 0
    while (start := int(round(beat * 60.0 / bpm * rate))) + length <= len(samples):
        samples[start:start + length] += burst
        beat += 1
    return samples


def tone(frequency: float, seconds: float = 2.0, amplitude: float = 0.5, rate: int = RATE) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def feature(values: np.ndarray, name: str) -> float:
    return float(values[CONTENT_FEATURES.index(name)])


def chroma(values: np.ndarray) -> np.ndarray:
    return np.array([values[i] for i, name in enumerate(CONTENT_FEATURES) if name.startswith("chroma_")])


def write(path, samples, rate=RATE, format=None, subtype=None, title=None, artist=None):
    # libsndfile 1.2.2's Vorbis encoder can crash on one large write, so
    # samples go in blocks of half a second.
    with soundfile.SoundFile(str(path), "w", rate, 1, format=format, subtype=subtype) as handle:
        if title:
            handle.title = title
        if artist:
            handle.artist = artist
        for start in range(0, len(samples), rate // 2):
            handle.write(samples[start:start + rate // 2])
    return path


@pytest.mark.parametrize("bpm", [93.0, 128.0, 141.0])
def test_click_track_tempo_within_two_percent(bpm):
    estimated = feature(extract_signal(click_track(bpm), RATE), "tempo_bpm")
    assert abs(estimated - bpm) / bpm < 0.02, estimated


def test_click_track_onset_rate_is_beats_per_second():
    values = extract_signal(click_track(120.0), RATE)
    assert feature(values, "onset_rate") == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize(("frequency", "pitch_class"), [(440.0, "A"), (261.63, "C"), (392.0, "G"), (311.13, "D#")])
def test_pure_tone_chroma_peaks_at_pitch_class(frequency, pitch_class):
    names = [name.removeprefix("chroma_") for name in CONTENT_FEATURES if name.startswith("chroma_")]
    assert names[int(np.argmax(chroma(extract_signal(tone(frequency), RATE))))] == pitch_class


def test_loudness_of_sine_is_its_rms_level():
    values = extract_signal(tone(440.0, amplitude=0.5), RATE)
    assert feature(values, "loudness_db") == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.05)


def test_spectral_centroid_follows_the_tone():
    low = feature(extract_signal(tone(220.0), RATE), "spectral_centroid")
    high = feature(extract_signal(tone(3520.0), RATE), "spectral_centroid")
    assert low == pytest.approx(220.0, rel=0.15)
    assert high == pytest.approx(3520.0, rel=0.05)


def test_feature_vector_is_finite_and_complete():
    values = extract_signal(tone(440.0), RATE)
    assert values.shape == (len(CONTENT_FEATURES),)
    assert np.all(np.isfinite(values))
    assert feature(values, "duration_s") == pytest.approx(2.0)


@pytest.mark.parametrize(("suffix", "format", "subtype"), [
    ("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III"),
])
def test_every_codec_decodes_with_tags(tmp_path, suffix, format, subtype):
    path = write(tmp_path / f"a.{suffix}", tone(440.0, seconds=3.0, rate=44100), rate=44100, format=format,
                 subtype=subtype, title="A Song", artist="A Band")
    result = extract_file(path)
    assert result.sample_rate == 44100
    # mp3 encoders pad the start and end with up to a few frames of silence.
    assert result.duration_s == pytest.approx(3.0, abs=0.1)
    assert (result.tags.title, result.tags.artist) == ("A Song", "A Band")
    assert int(np.argmax(chroma(result.values))) == 9  # A


def test_silent_file_is_rejected_by_name(tmp_path):
    path = write(tmp_path / "quiet.wav", np.zeros(3 * RATE, dtype=np.float32))
    with pytest.raises(AudioContentError, match=r"quiet\.wav: the audio is silent"):
        extract_file(path)


def test_tenth_of_a_second_is_too_short(tmp_path):
    path = write(tmp_path / "blip.wav", tone(440.0, seconds=0.1))
    with pytest.raises(AudioContentError) as raised:
        extract_file(path)
    message = str(raised.value)
    assert "blip.wav: too short to analyse (0.10 s of audio)" in message
    assert f"at least {MIN_SECONDS:.1f} s" in message


def test_undecodable_file_names_the_file(tmp_path):
    path = tmp_path / "broken.mp3"
    path.write_bytes(b"this is not audio" * 100)
    with pytest.raises(AudioContentError, match=r"broken\.mp3: cannot decode the audio"):
        extract_file(path)


def test_stereo_input_is_rejected_by_signal_api():
    with pytest.raises(AudioContentError, match="expected mono samples"):
        extract_signal(np.zeros((2, RATE * 2), dtype=np.float32), RATE)


def test_long_file_is_analysed_up_to_the_limit(tmp_path):
    path = write(tmp_path / "long.wav", tone(440.0, seconds=4.0))
    result = extract_file(path, max_seconds=2.0)
    assert result.duration_s == pytest.approx(4.0)
    assert feature(result.values, "duration_s") == pytest.approx(4.0)
